// The Slurm executor: each recipe attempt is a Slurm job running
// `alambic exec-task SPEC` on a shared filesystem (job_launcher.h says how the
// runner hands it over). Jobs are submitted with `sbatch --parsable`; one
// poller asks `squeue` about every job of the executor at once every
// poll_seconds, and a job that left the queue is looked up with
// `scontrol show job` (then `sacct`, when accounting is on) for how it ended.
// Cancellation (RequestStop, Ctrl-C, a timeout, fail-fast) is `scancel`. A job
// that ended without success and without being cancelled by us (FAILED,
// NODE_FAIL, PREEMPTED, CANCELLED from outside, or gone from every record) is
// reported as an error, and the runner's retry policy applies.
//
// Scheduling (dependencies, retries with backoff, timeouts, keep-going) is the
// LocalExecutor's, with settings.max_jobs attempts at once: each waits for its
// job on a pool thread that sleeps on a condition variable.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/exec/command.h"
#include "core/exec/executor.h"
#include "core/exec/job_launcher.h"
#include "core/flow/flow.h"

namespace alambic {

// ---- What the Slurm commands print (exposed for tests) ----

// `sbatch --parsable`: "12345" or "12345;cluster".
Result<std::string> ParseSbatchJobId(const std::string& out);
// `squeue -h -o "%i|%T"`: job id -> state (PENDING, RUNNING, COMPLETING, ...).
std::map<std::string, std::string> ParseSqueue(const std::string& out);
// How a job that left the queue ended.
struct JobEnd {
  std::string state;  // COMPLETED, FAILED, CANCELLED, NODE_FAIL, ...; "" unknown
  int exit_code = -1;
  int signal = 0;
  std::string reason;
};
// `scontrol -o show job ID` (one line of Key=Value).
JobEnd ParseScontrolJob(const std::string& out);
// `sacct -n -P -X -o State,ExitCode -j ID`: "CANCELLED by 0|0:15".
JobEnd ParseSacct(const std::string& out);
// Whether a job in this state ran to its end with exit status 0.
bool JobSucceeded(const JobEnd& end);

// The sbatch argument vector for a job (partition, account, QOS and the
// resources: the job's, else the settings' defaults).
std::vector<std::string> SbatchArgs(const SlurmSettings& settings, const JobRequest& job,
                                    const std::filesystem::path& script);

// "as a Slurm job (partition debug, 2 CPU, 1G, time 00:10:00)": how a recipe
// with these resources runs (for plan --explain).
std::string SlurmJobDescription(const SlurmSettings& settings, const JobResources& recipe = {});

class SlurmExecutor final : public Executor, public JobLauncher {
 public:
  // `runner` is borrowed and must outlive the executor.
  SlurmExecutor(SlurmSettings settings, ExecOptions options,
                CommandRunner& runner = RealCommandRunner());
  ~SlurmExecutor() override;
  SlurmExecutor(const SlurmExecutor&) = delete;
  SlurmExecutor& operator=(const SlurmExecutor&) = delete;

  // Executor: the tasks' fn is the runner's remote attempt, which calls RunJob.
  std::vector<TaskOutcome> Execute(const std::vector<ExecTask>& tasks, const TaskFn& fn,
                                   ExecObserver* observer = nullptr) override;
  void RequestStop() override;
  bool stop_requested() const override;

  // JobLauncher.
  std::filesystem::path staging() const override { return settings_.staging; }
  std::string Describe() const override;
  Status RunJob(const JobRequest& job, const CancelToken& cancel,
                const std::function<void(const std::string& id)>& submitted) override;

  // Checks that the cluster answers and knows the configured partition (an
  // error naming it otherwise). Called before a run starts.
  Status CheckCluster();

 private:
  struct Impl;
  SlurmSettings settings_;
  ExecOptions options_;
  CommandRunner& runner_;
  std::unique_ptr<LocalExecutor> local_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace alambic
