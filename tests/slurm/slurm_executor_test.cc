// The Slurm executor above its process seam: what sbatch, squeue, scontrol and
// sacct print, the sbatch argument vector, and the executor's decisions (a job
// that completed, failed, was cancelled from outside or was lost; cancellation
// by scancel) against a fake of the commands; and its alambic.yaml settings.
// tests/slurm/slurm_e2e.sh runs the same against a real Slurm.
#include "core/exec/slurm_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "core/flow/loader.h"
#include "tests/test_util.h"

namespace alambic::slurm_executor_test {
namespace {

namespace fs = std::filesystem;

TEST(SlurmParseTest, SbatchParsableJobId) {
  EXPECT_EQ(*ParseSbatchJobId("1234\n"), "1234");
  EXPECT_EQ(*ParseSbatchJobId("77;cluster2\n"), "77");
  auto bad = ParseSbatchJobId("sbatch: error: Batch job submission failed\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no job id"), std::string::npos);
  EXPECT_FALSE(ParseSbatchJobId("").ok());
}

TEST(SlurmParseTest, SqueueLines) {
  auto jobs = ParseSqueue("12|RUNNING\n13|PENDING\n\ngarbage\n14|COMPLETED\n");
  EXPECT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs["12"], "RUNNING");
  EXPECT_EQ(jobs["13"], "PENDING");
  EXPECT_EQ(jobs["14"], "COMPLETED");
}

TEST(SlurmParseTest, ScontrolAndSacct) {
  JobEnd e = ParseScontrolJob(
      "JobId=5 JobName=permis/clean UserId=root(0) JobState=CANCELLED Reason=None "
      "Dependency=(null) ExitCode=0:15 RunTime=00:00:01\n");
  EXPECT_EQ(e.state, "CANCELLED");
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.signal, 15);
  EXPECT_FALSE(JobSucceeded(e));
  e = ParseScontrolJob("JobId=6 JobState=COMPLETED Reason=None ExitCode=0:0\n");
  EXPECT_TRUE(JobSucceeded(e));
  e = ParseScontrolJob("JobId=7 JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0\n");
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_FALSE(JobSucceeded(e));
  e = ParseSacct("CANCELLED by 0|0:15\n");
  EXPECT_EQ(e.state, "CANCELLED");
  EXPECT_EQ(e.reason, "by 0");
  EXPECT_EQ(e.signal, 15);
  e = ParseSacct("NODE_FAIL|1:0\n");
  EXPECT_EQ(e.state, "NODE_FAIL");
  EXPECT_EQ(ParseSacct("").state, "");
}

TEST(SlurmArgsTest, OneArgumentPerSettingAndTheRecipesResourcesFirst) {
  SlurmSettings s;
  s.partition = "debug";
  s.account = "lab";
  s.defaults = {1, "1G", "00:10:00"};
  JobRequest job;
  job.name = "permis/clean; rm -rf /\nx";
  job.argv = {"/usr/bin/alambic", "exec-task", "/shared/a b/spec.json"};
  job.workdir = "/shared/ws";
  job.output = "/shared/st/job.out";
  job.resources.cpus = 4;
  job.resources.time = "5";
  auto a = SbatchArgs(s, job, "/shared/st/alambic-job.sh");
  const std::vector<std::string> want = {"sbatch",
                                         "--parsable",
                                         "--job-name=permis/clean; rm -rf /_x",
                                         "--output=/shared/st/job.out",
                                         "--chdir=/shared/ws",
                                         "--export=ALL",
                                         "--partition=debug",
                                         "--account=lab",
                                         "--cpus-per-task=4",
                                         "--mem=1G",
                                         "--time=5",
                                         "/shared/st/alambic-job.sh",
                                         "/usr/bin/alambic",
                                         "exec-task",
                                         "/shared/a b/spec.json"};
  EXPECT_EQ(a, want);
  EXPECT_EQ(SlurmJobDescription(s, job.resources),
            "as a Slurm job (partition debug, 4 CPU, 1G, time 5)");
}

// Answers each command from a script of replies; records every call.
class FakeSlurm final : public CommandRunner {
 public:
  Result<CommandResult> Run(const std::vector<std::string>& argv,
                            const std::vector<std::string>& keep_env) override {
    std::lock_guard l(mu_);
    calls.push_back(argv);
    envs.push_back(keep_env);
    const std::string& cmd = argv[0];
    auto& q = replies[cmd];
    if (q.empty()) return CommandResult{1, "", cmd + ": no reply scripted"};
    CommandResult r = q.front();
    if (q.size() > 1) q.pop_front();  // the last reply repeats
    return r;
  }
  int Count(const std::string& cmd) {
    std::lock_guard l(mu_);
    int n = 0;
    for (const auto& c : calls) n += c[0] == cmd;
    return n;
  }
  std::map<std::string, std::deque<CommandResult>> replies;
  std::vector<std::vector<std::string>> calls;
  std::vector<std::vector<std::string>> envs;

 private:
  std::mutex mu_;
};

class SlurmExecutorTest : public ::testing::Test {
 protected:
  SlurmExecutorTest() {
    settings_.partition = "debug";
    settings_.poll_seconds = 0.05;
    settings_.staging = dir_.path();
    job_.name = "f/r";
    job_.argv = {"alambic", "exec-task", "spec.json"};
    job_.workdir = dir_.path();
    job_.output = dir_.path() / "job.out";
    job_.env = {"ALAMBIC_KEY"};
  }
  Status RunJob(const CancelToken& cancel = {}) {
    SlurmExecutor ex(settings_, ExecOptions{}, fake_);
    return ex.RunJob(job_, cancel, [&](const std::string& id) { submitted_ = id; });
  }
  testing::TempDir dir_;
  SlurmSettings settings_;
  JobRequest job_;
  FakeSlurm fake_;
  std::string submitted_;
};

TEST_F(SlurmExecutorTest, AJobThatCompletedSucceeds) {
  fake_.replies["sbatch"] = {{0, "41\n", ""}};
  fake_.replies["squeue"] = {{0, "41|PENDING\n", ""}, {0, "41|RUNNING\n", ""}, {0, "", ""}};
  fake_.replies["scontrol"] = {{0, "JobId=41 JobState=COMPLETED Reason=None ExitCode=0:0", ""}};
  EXPECT_TRUE(RunJob().ok());
  EXPECT_EQ(submitted_, "41");
  EXPECT_GE(fake_.Count("squeue"), 3);
  EXPECT_EQ(fake_.Count("scancel"), 0);
  // The recipe's secret variables are passed to sbatch, nothing else asked for.
  EXPECT_EQ(fake_.envs[0], std::vector<std::string>{"ALAMBIC_KEY"});
  // One squeue for all jobs, by id.
  bool asked = false;
  for (const auto& c : fake_.calls)
    if (c[0] == "squeue") asked |= c.back() == "--jobs=41";
  EXPECT_TRUE(asked);
}

TEST_F(SlurmExecutorTest, AJobCancelledFromOutsideIsAnErrorToRetry) {
  fake_.replies["sbatch"] = {{0, "42\n", ""}};
  fake_.replies["squeue"] = {{0, "42|CANCELLED\n", ""}};
  fake_.replies["scontrol"] = {{0, "JobId=42 JobState=CANCELLED Reason=None ExitCode=0:15", ""}};
  Status st = RunJob();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("Slurm job 42 ended CANCELLED, signal 15"), std::string::npos)
      << st.message();
  EXPECT_EQ(st.code(), StatusCode::kFailed);
}

TEST_F(SlurmExecutorTest, AJobNobodyKnowsIsLost) {
  fake_.replies["sbatch"] = {{0, "43\n", ""}};
  fake_.replies["squeue"] = {{1, "", "slurm_load_jobs error: Invalid job id specified\n"}};
  fake_.replies["scontrol"] = {{1, "", "slurm_load_jobs error: Invalid job id specified\n"}};
  fake_.replies["sacct"] = {{1, "", "Slurm accounting storage is disabled\n"}};
  Status st = RunJob();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("Slurm job 43 was lost"), std::string::npos) << st.message();
  EXPECT_GE(fake_.Count("scontrol"), 3);
}

TEST_F(SlurmExecutorTest, AnUnreachableControllerIsNotALostJob) {
  fake_.replies["sbatch"] = {{0, "44\n", ""}};
  // squeue fails for another reason (controller down) a few times, then answers.
  fake_.replies["squeue"] = {{1, "", "slurm_load_jobs error: Unable to contact slurm controller"},
                             {1, "", "slurm_load_jobs error: Unable to contact slurm controller"},
                             {1, "", "slurm_load_jobs error: Unable to contact slurm controller"},
                             {1, "", "slurm_load_jobs error: Unable to contact slurm controller"},
                             {0, "44|COMPLETED\n", ""}};
  fake_.replies["scontrol"] = {{0, "JobId=44 JobState=COMPLETED Reason=None ExitCode=0:0", ""}};
  EXPECT_TRUE(RunJob().ok());
}

TEST_F(SlurmExecutorTest, CancellingScancelsTheJob) {
  fake_.replies["sbatch"] = {{0, "45\n", ""}};
  fake_.replies["squeue"] = {{0, "45|RUNNING\n", ""}};
  fake_.replies["scancel"] = {{0, "", ""}};
  CancelToken cancel;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    cancel.Cancel(StatusCode::kTimedOut);
  });
  Status st = RunJob(cancel);
  stopper.join();
  EXPECT_EQ(st.code(), StatusCode::kTimedOut);
  ASSERT_EQ(fake_.Count("scancel"), 1);
  EXPECT_EQ(fake_.calls.back(), (std::vector<std::string>{"scancel", "45"}));
}

TEST_F(SlurmExecutorTest, AFailureScancelsTheOtherJobsWhenNotKeepingGoing) {
  fake_.replies["sbatch"] = {{0, "46\n", ""}};
  fake_.replies["squeue"] = {{0, "46|RUNNING\n", ""}};
  fake_.replies["scancel"] = {{0, "", ""}};
  SlurmExecutor ex(settings_, ExecOptions{}, fake_);
  std::vector<ExecTask> tasks(2);
  tasks[0].name = "f/fails";
  tasks[1].name = "f/runs";
  std::atomic<bool> submitted{false};
  auto outcomes = ex.Execute(tasks, [&](int t, int, const CancelToken& cancel) -> Status {
    if (t == 0) {
      while (!submitted) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return Status::Failed("boom");
    }
    return ex.RunJob(job_, cancel, [&](const std::string&) { submitted = true; });
  });
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].state, TaskState::kFailed);
  EXPECT_EQ(outcomes[1].state, TaskState::kCancelled);
  ASSERT_EQ(fake_.Count("scancel"), 1);
  EXPECT_EQ(fake_.calls.back(), (std::vector<std::string>{"scancel", "46"}));
}

TEST_F(SlurmExecutorTest, SbatchRefusalIsReported) {
  fake_.replies["sbatch"] = {
      {1, "",
       "sbatch: error: Batch job submission failed: Invalid account or account/partition "
       "combination specified\n"}};
  Status st = RunJob();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("sbatch refused the job: sbatch: error: Batch job submission "
                              "failed: Invalid account"),
            std::string::npos)
      << st.message();
}

TEST_F(SlurmExecutorTest, AnUnknownPartitionIsNamed) {
  fake_.replies["sinfo"] = {{0, "debug*\nbig\n", ""}};
  settings_.partition = "gpu";
  SlurmExecutor ex(settings_, ExecOptions{}, fake_);
  Status st = ex.CheckCluster();
  EXPECT_EQ(st.message(), "Slurm partition 'gpu' does not exist (the cluster has: debug, big)");
  settings_.partition = "big";
  SlurmExecutor ok(settings_, ExecOptions{}, fake_);
  EXPECT_TRUE(ok.CheckCluster().ok());
}

TEST(CleanEnvironmentTest, SecretsStayOutUnlessAsked) {
  ::setenv("ALAMBIC_TEST_SECRET_XYZ", "s3cret", 1);
  ::setenv("PATH", "/usr/bin:/bin", 0);
  auto has = [](const std::vector<std::string>& env, const std::string& prefix) {
    for (const auto& e : env)
      if (e.rfind(prefix, 0) == 0) return true;
    return false;
  };
  EXPECT_FALSE(has(CleanEnvironment({}), "ALAMBIC_TEST_SECRET_XYZ="));
  EXPECT_TRUE(has(CleanEnvironment({}), "PATH="));
  EXPECT_TRUE(has(CleanEnvironment({"ALAMBIC_TEST_SECRET_XYZ"}), "ALAMBIC_TEST_SECRET_XYZ=s3cret"));
  auto r = RealCommandRunner().Run({"sh", "-c", "echo \"[$ALAMBIC_TEST_SECRET_XYZ]\"; echo e >&2"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "[]\n");
  EXPECT_EQ(r->err, "e\n");
  ::unsetenv("ALAMBIC_TEST_SECRET_XYZ");
  EXPECT_FALSE(RealCommandRunner().Run({"/nonexistent/sbatch"}).ok());
}

// ---- alambic.yaml ----

std::vector<std::string> LoadConfig(const testing::TempDir& dir, const std::string& yaml,
                                    LoadedWorkspace* out) {
  testing::WriteFile(dir.path() / "alambic.yaml", yaml);
  *out = LoadWorkspaceConfig(dir.path());
  std::vector<std::string> diags;
  for (const auto& d : out->diagnostics) diags.push_back(d.ToString());
  return diags;
}

TEST(SlurmConfigTest, ExecutorMapIsRead) {
  testing::TempDir dir;
  LoadedWorkspace lw;
  EXPECT_EQ(LoadConfig(dir,
                       "name: t\n"
                       "environments:\n"
                       "  warehouse:\n"
                       "    executor: {kind: slurm, partition: debug, account: x, qos: normal,\n"
                       "               cpus: 2, mem: 1G, time: \"00:10:00\", max_jobs: 8,\n"
                       "               poll_seconds: 0.5, staging: /shared/alambic-staging}\n"
                       "  datalab:\n"
                       "    executor: slurm\n",
                       &lw),
            std::vector<std::string>{});
  const EnvironmentSpec& w = lw.workspace.config.environments.at("warehouse");
  EXPECT_EQ(w.executor, "slurm");
  EXPECT_EQ(w.slurm.partition, "debug");
  EXPECT_EQ(w.slurm.account, "x");
  EXPECT_EQ(w.slurm.qos, "normal");
  EXPECT_EQ(w.slurm.defaults, (JobResources{2, "1G", "00:10:00"}));
  EXPECT_EQ(w.slurm.max_jobs, 8);
  EXPECT_EQ(w.slurm.poll_seconds, 0.5);
  EXPECT_EQ(w.slurm.staging, fs::path("/shared/alambic-staging"));
  EXPECT_EQ(lw.workspace.config.environments.at("datalab").executor, "slurm");
}

TEST(SlurmConfigTest, EachBadSettingNamesItsLine) {
  testing::TempDir dir;
  LoadedWorkspace lw;
  EXPECT_EQ(LoadConfig(dir,
                       "name: t\n"
                       "environments:\n"
                       "  warehouse:\n"
                       "    executor: {kind: slurm, partition: \"a b\", mem: lots, time: soon,\n"
                       "               cpus: 0, max_jobs: 0, poll_seconds: 0, nodes: 3}\n"
                       "  datalab:\n"
                       "    executor: {partition: debug}\n",
                       &lw),
            (std::vector<std::string>{
                "alambic.yaml:4:40: environments.warehouse.executor.partition: 'a b' is not a "
                "Slurm name (letters, digits, _ . + -)",
                "alambic.yaml:4:52: environments.warehouse.executor.mem: 'lots' is not a memory "
                "size (e.g. 512M, 4G; megabytes when no unit)",
                "alambic.yaml:4:64: environments.warehouse.executor.time: 'soon' is not a time "
                "limit (minutes, MM:SS, HH:MM:SS or D-HH:MM:SS, quoted)",
                "alambic.yaml:5:22: environments.warehouse.executor.cpus must be a whole number "
                "of CPUs (1 or more)",
                "alambic.yaml:5:35: environments.warehouse.executor.max_jobs must be an integer "
                "between 1 and 1000",
                "alambic.yaml:5:52: environments.warehouse.executor.poll_seconds must be between "
                "0.05 and 600",
                "alambic.yaml:5:55: unknown key 'nodes' in environments.warehouse.executor "
                "(expected one of: kind, partition, account, qos, cpus, mem, time, max_jobs, "
                "poll_seconds, staging)",
                "alambic.yaml:7:15: environments.datalab.executor needs a kind (local or slurm)",
            }));
}

TEST(SlurmConfigTest, RecipeResourcesAreReadAndChecked) {
  testing::TempDir dir;
  testing::WriteFile(dir.path() / "alambic.yaml", "name: t\n");
  testing::WriteFile(dir.path() / "flows/f.yaml",
                     "flow: f\n"
                     "recipes:\n"
                     "  - name: a\n"
                     "    kind: collect\n"
                     "    outputs: [a]\n"
                     "    params: {path: a.csv, format: csv}\n"
                     "    resources: {cpus: 4, mem: 2G, time: \"1-00:00:00\"}\n"
                     "  - name: b\n"
                     "    kind: collect\n"
                     "    outputs: [b]\n"
                     "    params: {path: b.csv, format: csv}\n"
                     "    resources: {cpus: many, gpus: 1}\n");
  LoadOptions no_cache;
  no_cache.flow_cache = false;
  LoadedWorkspace lw = LoadWorkspace(dir.path(), no_cache);
  std::vector<std::string> diags;
  for (const auto& d : lw.diagnostics) diags.push_back(d.ToString());
  EXPECT_EQ(diags, (std::vector<std::string>{
                       "flows/f.yaml:12:23: resources.cpus must be a whole number of CPUs (1 or "
                       "more)",
                       "flows/f.yaml:12:29: unknown key 'gpus' in recipe resources (expected one "
                       "of: cpus, mem, time)",
                   }));
  ASSERT_EQ(lw.workspace.flows.size(), 1u);
  EXPECT_EQ(lw.workspace.flows[0].recipes[0].resources, (JobResources{4, "2G", "1-00:00:00"}));
}

}  // namespace
}  // namespace alambic::slurm_executor_test
