#include "core/exec/run.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "core/base/actor.h"
#include "core/exec/fan_out.h"
#include "core/exec/publisher.h"
#include "core/exec/pushdown_run.h"
#include "core/exec/run_record.h"
#include "core/exec/slurm_executor.h"
#include "core/exec/task_spec.h"
#include "core/table/arrow_ipc.h"
#include "core/vcs/git.h"

// A run goes through four parts, in this order:
//   planning   - under the workspace lock: close abandoned runs, plan, open the
//                run record, and turn the recipes to run into executor tasks;
//   executing  - the Executor runs the tasks; each attempt (RecipeAttempts)
//                reads the inputs, runs the kind and stages the outputs;
//   publishing - each succeeded recipe's staged outputs go to the store and the
//                catalog (Publisher, group commits), as the recipe ends;
//   recording  - each recipe's run record (RunRecorder, as it ends), and the
//                run's end: status, audit entry.
// RunFlows is the sequence; each part is a function or class below.

namespace alambic {

namespace {

using RunSteadyClock = std::chrono::steady_clock;

constexpr double kDefaultRetryBackoffSeconds = 1.0;
// How many of the newest runs are looked at for ones left `running`.
constexpr int kAbandonedLookback = 1000;
// The most log a recipe run keeps (catalog and console); the rest is dropped.
constexpr size_t kMaxRecipeLog = size_t{4} << 20;

// Collects a recipe's log lines for the catalog and forwards them.
class TaskLogger final : public RecipeLogger {
 public:
  TaskLogger(const RecipeNode& node, RunObserver* obs, Clock& clock)
      : node_(node), obs_(obs), clock_(clock) {}
  void Log(LogLevel level, const std::string& message) override {
    static const char* kNames[] = {"debug", "info", "warn", "error"};
    std::string note;
    {
      std::lock_guard l(mu_);
      if (truncated_) return;
      if (text_.size() + message.size() > kMaxRecipeLog) {
        truncated_ = true;
        note = fmt::format(
            "log truncated: the recipe wrote more than {} MB of log; the rest is "
            "dropped",
            kMaxRecipeLog >> 20);
        text_ += fmt::format("{} warn {}\n", IsoTime(clock_.Now()), note);
      } else {
        text_ += fmt::format("{} {} {}\n", IsoTime(clock_.Now()), kNames[static_cast<int>(level)],
                             message);
      }
    }
    if (obs_) {
      if (note.empty())
        obs_->RecipeLog(node_, level, message);
      else
        obs_->RecipeLog(node_, LogLevel::kWarn, note);
    }
  }
  std::string text() {
    std::lock_guard l(mu_);
    return text_;
  }

 private:
  const RecipeNode& node_;
  RunObserver* obs_;
  Clock& clock_;
  std::mutex mu_;
  std::string text_;
  bool truncated_ = false;
};

// ---- Planning ----

// Holding the lock, a run still `running` in the catalog is one whose process
// ended without finishing it. Runs are serial under the lock, so such runs are
// among the newest (each run marks those before it).
Status CloseAbandonedRuns(Catalog& catalog, Clock& clock) {
  ALAMBIC_ASSIGN_OR_RETURN(auto recent, catalog.ListRuns(kAbandonedLookback));
  for (const auto& r : recent)
    if (r.status == "running")
      ALAMBIC_RETURN_IF_ERROR(catalog.FinishRun(
          r.id, "abandoned", IsoTime(clock.Now()),
          "abandoned: its process ended without finishing the run (killed, crashed, or the "
          "catalog could not be written); found at the next run"));
  return Status::Ok();
}

// The record of a run about to start (status running).
RunRecord NewRunRecord(Session& session, const RunOptions& options, Clock& clock) {
  RunRecord run;
  run.id = options.run_id.empty() ? NewUuid() : options.run_id;
  std::string flows;
  if (options.plan.flows.empty()) {
    for (const auto& f : session.workspace().flows) flows += (flows.empty() ? "" : ",") + f.name;
  } else {
    for (const auto& f : options.plan.flows) flows += (flows.empty() ? "" : ",") + f;
  }
  run.flows = flows;
  run.environment = session.environment();
  run.trigger = options.trigger;
  const Actor actor = Actor::Current();
  run.user = options.user.empty() ? actor.user : options.user;
  if (auto head = GitReadHead(session.root()); head.ok()) {
    run.git_commit = head->commit;
    run.git_dirty = head->dirty;
  }
  run.status = "running";
  run.started_at = IsoTime(clock.Now());
  run.alambic_version = ALAMBIC_VERSION;
  run.host = actor.host;
  run.release = options.release;
  return run;
}

// The recipes of a plan to run, as executor tasks (task t is recipes[t]).
struct TaskPlan {
  std::vector<const RecipePlan*> recipes;
  std::vector<ExecTask> tasks;
  // How many tasks read each dataset: its in-memory copy is dropped after the last.
  std::unordered_map<std::string, int> readers;
  int up_to_date = 0;
};

// One task per recipe to run, depending on the tasks of its upstream recipes,
// with the recipe's (else its flow's) timeout and retry policy.
TaskPlan PlanTasks(const FlowGraph& g, const Plan& plan) {
  TaskPlan tp;
  std::unordered_map<int, int> task_of_node;
  for (const auto& rp : plan.recipes) {
    if (rp.decision == Decision::kRun) {
      task_of_node[rp.node] = static_cast<int>(tp.recipes.size());
      tp.recipes.push_back(&rp);
    } else if (rp.decision == Decision::kUpToDate) {
      ++tp.up_to_date;
    }
  }
  tp.tasks.resize(tp.recipes.size());
  for (size_t t = 0; t < tp.recipes.size(); ++t) {
    const RecipeNode& node = g.node(tp.recipes[t]->node);
    ExecTask& task = tp.tasks[t];
    task.name = node.flow->name + "/" + node.recipe->name;
    for (int up : g.Upstream(tp.recipes[t]->node)) {
      auto it = task_of_node.find(up);
      if (it != task_of_node.end()) task.deps.push_back(it->second);
    }
    for (const auto& in : node.recipe->inputs) ++tp.readers[in];
    const ExecPolicy& rp = node.recipe->policy;
    const ExecPolicy& fp = node.flow->policy;
    task.timeout_seconds = rp.timeout_seconds.value_or(fp.timeout_seconds.value_or(0));
    task.retries = rp.retries.value_or(fp.retries.value_or(0));
    task.retry_backoff_seconds = rp.retry_backoff_seconds.value_or(
        fp.retry_backoff_seconds.value_or(kDefaultRetryBackoffSeconds));
  }
  return tp;
}

// ---- Executing ----

// What the current attempt of a task produced, kept until the task ends.
struct TaskResult {
  std::vector<DatasetStore::Staged> staged;
  std::vector<int64_t> out_rows;
  std::vector<std::string> out_schemas;
  std::vector<std::vector<ColumnLineageEdge>> out_lineage;
  nlohmann::json metrics;
  int64_t rows_in = 0, rows_out = 0, bytes_out = 0;
  std::unique_ptr<TaskLogger> logger;
  std::vector<std::string> job_ids;  // a JobLauncher's jobs, one per attempt
  std::string started_at;            // written and read on the executor's control thread
  // Guards the fields above against an attempt that outlives its timeout: such
  // a worker may still be running when the task is finished or retried.
  std::mutex mu;
};

// What one attempt staged, kept local until StageAndCommit hands it to its task.
struct AttemptOutputs {
  std::vector<DatasetStore::Staged> staged;
  std::vector<int64_t> rows;
  std::vector<std::string> schemas;
  std::vector<std::vector<ColumnLineageEdge>> lineage;
  int64_t rows_out = 0, bytes_out = 0;
};

// Runs attempts of the tasks of a TaskPlan: each reads its inputs (from this
// run's in-memory tables, else the store), runs the recipe's kind and stages
// its outputs. Thread-safe: attempts of different tasks run at once.
class RecipeAttempts {
 public:
  // Attempts run in this process, or as jobs of `launcher` (non-null) whose
  // task specs go under <launcher staging>/<run id>.
  RecipeAttempts(Session& session, const TaskPlan& tp, RunObserver* observer, Clock& clock,
                 JobLauncher* launcher = nullptr, std::filesystem::path job_dir = {},
                 std::filesystem::path job_binary = {})
      : session_(session),
        launcher_(launcher),
        job_dir_(std::move(job_dir)),
        job_binary_(std::move(job_binary)),
        tp_(tp),
        observer_(observer),
        results_(tp.recipes.size()),
        readers_left_(tp.readers) {
    for (size_t t = 0; t < tp.recipes.size(); ++t)
      results_[t].logger =
          std::make_unique<TaskLogger>(session.graph().node(tp.recipes[t]->node), observer, clock);
  }

  TaskResult& result(int t) { return results_[static_cast<size_t>(t)]; }

  // One attempt of task t (the executor's TaskFn).
  Status Run(int t, int attempt, const CancelToken& cancel) {
    if (!launcher_) return RunHere(t, attempt, cancel);
    // A recipe PostgreSQL runs itself needs no job: it runs inside the database.
    if (auto pushed = RunPushedDown(t, cancel)) return *pushed;
    return RunJob(t, attempt, cancel);
  }

  // Task t ended: its inputs nobody else in this run reads leave memory.
  void Release(const RecipeSpec& spec) {
    std::lock_guard l(cache_mu_);
    for (const auto& in : spec.inputs)
      if (--readers_left_[in] <= 0) cache_.erase(in);
  }
  void ClearCache() {
    std::lock_guard l(cache_mu_);
    cache_.clear();
  }

 private:
  Status RunHere(int t, int attempt, const CancelToken& cancel);
  std::optional<Status> RunPushedDown(int t, const CancelToken& cancel);
  Status RunJob(int t, int attempt, const CancelToken& cancel);
  // In a partitioned flow, a row-by-row recipe: one job per partition of its
  // input (fan_out.h); nullopt when its input does not have the column.
  std::optional<Status> RunFanOut(int t, int attempt, const CancelToken& cancel);
  // The task spec of a job of recipe `rp` (inputs and outputs left to the caller),
  // its result written to `result`.
  TaskSpec JobTaskSpec(const RecipePlan& rp, const std::filesystem::path& result) const;
  // Stages output k of an attempt into `out`; on failure discards all it staged.
  Status StageOutput(const RecipeSpec& spec, const RecipePlan& rp, size_t k, const Table& table,
                     std::vector<ColumnLineageEdge> lineage, AttemptOutputs& out);
  // Hands an attempt's staged outputs to its task, unless the attempt was cancelled or
  // timed out meanwhile (the executor may already have finished the task or started
  // another attempt): then they are discarded.
  Status Commit(TaskResult& res, const CancelToken& cancel, AttemptOutputs out, int64_t rows_in,
                nlohmann::json metrics);

  Session& session_;
  JobLauncher* launcher_;
  std::filesystem::path job_dir_, job_binary_;
  const TaskPlan& tp_;
  RunObserver* observer_;
  std::vector<TaskResult> results_;
  // dataset -> the file a job of this run wrote it to (read by the jobs downstream).
  std::unordered_map<std::string, std::filesystem::path> job_outputs_;
  // task -> the partitions whose job succeeded (in an earlier attempt too):
  // a retry runs only the others.
  struct PartitionDone {
    std::vector<std::filesystem::path> outputs;
    TaskResultFile result;
  };
  std::unordered_map<int, std::vector<std::optional<PartitionDone>>> partitions_done_;
  std::mutex cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Table>>
      cache_;  // dataset -> table built this run
  std::unordered_map<std::string, int> readers_left_;
};

Status RecipeAttempts::RunHere(int t, int attempt, const CancelToken& cancel) {
  const RecipePlan& rp = *tp_.recipes[static_cast<size_t>(t)];
  const RecipeNode& node = session_.graph().node(rp.node);
  const RecipeSpec& spec = *node.recipe;
  TaskResult& res = results_[static_cast<size_t>(t)];
  const RecipeKind* kind = session_.kinds().Find(spec.kind);
  RecipeContext ctx = session_.MakeContext(spec);
  ctx.log = res.logger.get();
  ctx.cancel = &cancel;
  if (observer_)
    ctx.progress = [obs = observer_, &node](int64_t rows) { obs->RecipeProgress(node, rows); };
  // This attempt's results stay local until it commits them (below).
  int64_t rows_in = 0;
  if (auto pushed = RunPushedDown(t, cancel)) return *pushed;
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    const std::string& ds = spec.inputs[k];
    std::shared_ptr<const Table> table;
    {
      std::lock_guard l(cache_mu_);
      auto it = cache_.find(ds);
      if (it != cache_.end()) table = it->second;
    }
    if (!table) {
      auto read = session_.store().Read(ds, rp.input_versions[k]);
      if (!read.ok())
        return read.status().WithContext(fmt::format("recipe {}: reading input {}", spec.name, ds));
      table = std::make_shared<const Table>(std::move(*read));
    }
    rows_in += table->num_rows();
    ctx.inputs.push_back({ds, std::move(table)});
  }
  if (attempt > 1) ctx.log->Info(fmt::format("attempt {}", attempt));
  auto output = kind->Run(ctx);
  if (!output.ok()) {
    ctx.log->Log(LogLevel::kError, output.status().message());
    // What a failing kind measured (a check's results) is recorded with the failed
    // run, unless this attempt is no longer current.
    std::lock_guard l(res.mu);
    if (!cancel.cancelled()) {
      res.rows_in = rows_in;
      res.metrics = std::move(ctx.failure_metrics);
    }
    return output.status();
  }
  if (cancel.cancelled()) return cancel.AsStatus();
  if (output->tables.size() != spec.outputs.size())
    return Status::Internal(fmt::format("recipe {}: kind {} returned {} tables for {} outputs",
                                        spec.name, spec.kind, output->tables.size(),
                                        spec.outputs.size()));
  AttemptOutputs staged;
  for (size_t k = 0; k < spec.outputs.size(); ++k) {
    const Table& table = output->tables[k];
    Status st = StageOutput(
        spec, rp, k, table,
        LineageEdges(table.schema(),
                     k < output->column_lineage.size() ? &output->column_lineage[k] : nullptr,
                     spec.inputs),
        staged);
    if (!st.ok()) return st;
  }
  const int64_t rows_out = staged.rows_out;
  if (Status st = Commit(res, cancel, std::move(staged), rows_in, std::move(output->metrics));
      !st.ok())
    return st;
  {
    std::lock_guard l(cache_mu_);
    for (size_t k = 0; k < spec.outputs.size(); ++k)
      if (tp_.readers.count(spec.outputs[k]))
        cache_[spec.outputs[k]] = std::make_shared<const Table>(std::move(output->tables[k]));
  }
  ctx.log->Info(fmt::format("{} rows in, {} rows out", rows_in, rows_out));
  return Status::Ok();
}

Status RecipeAttempts::StageOutput(const RecipeSpec& spec, const RecipePlan& rp, size_t k,
                                   const Table& table, std::vector<ColumnLineageEdge> lineage,
                                   AttemptOutputs& out) {
  auto staged = session_.store().Stage(spec.outputs[k], rp.output_versions[k], table);
  if (!staged.ok()) {
    for (auto& s : out.staged) session_.store().Discard(s);
    out.staged.clear();
    return staged.status().WithContext(fmt::format("recipe {}", spec.name));
  }
  out.bytes_out += staged->bytes;
  out.rows_out += table.num_rows();
  out.staged.push_back(std::move(*staged));
  out.rows.push_back(table.num_rows());
  out.schemas.push_back(SchemaJson(table.schema()));
  out.lineage.push_back(std::move(lineage));
  return Status::Ok();
}

Status RecipeAttempts::Commit(TaskResult& res, const CancelToken& cancel, AttemptOutputs out,
                              int64_t rows_in, nlohmann::json metrics) {
  std::lock_guard l(res.mu);
  if (cancel.cancelled()) {
    for (auto& s : out.staged) session_.store().Discard(s);
    return cancel.AsStatus();
  }
  for (auto& s : res.staged) session_.store().Discard(s);
  res.staged = std::move(out.staged);
  res.rows_in = rows_in;
  res.rows_out = out.rows_out;
  res.bytes_out = out.bytes_out;
  res.metrics = std::move(metrics);
  res.out_rows = std::move(out.rows);
  res.out_schemas = std::move(out.schemas);
  res.out_lineage = std::move(out.lineage);
  return Status::Ok();
}

// Task t inside the PostgreSQL store's database when its kind translates to
// SQL (core/exec/pushdown_run.h); nullopt: run it in the local engine (a
// translation or database refusal is logged, and the local run reports it).
std::optional<Status> RecipeAttempts::RunPushedDown(int t, const CancelToken& cancel) {
  const RecipePlan& rp = *tp_.recipes[static_cast<size_t>(t)];
  const RecipeSpec& spec = *session_.graph().node(rp.node).recipe;
  if (ChooseEngine(session_.store(), session_.kinds(), spec).engine != Engine::kPushdown)
    return std::nullopt;
  TaskResult& res = results_[static_cast<size_t>(t)];
  auto pushed = RunPushdown(session_.store(), session_.kinds(), spec, rp.input_versions,
                            rp.output_versions.at(0));
  if (!pushed.ok()) {
    res.logger->Warn(fmt::format("push-down to PostgreSQL failed ({}); running in the local engine",
                                 pushed.status().message()));
    return std::nullopt;
  }
  AttemptOutputs out;
  out.rows_out = pushed->rows;
  out.bytes_out = pushed->staged.bytes;
  out.staged.push_back(pushed->staged);
  out.rows.push_back(pushed->rows);
  out.schemas.push_back(SchemaJson(pushed->schema));
  out.lineage.push_back(LineageEdges(pushed->schema, nullptr, spec.inputs));
  if (Status st = Commit(res, cancel, std::move(out), 0,
                         nlohmann::json{{"engine", "postgres"}, {"rows", pushed->rows}});
      !st.ok())
    return st;
  res.logger->Info(fmt::format("ran inside PostgreSQL (push-down): {} rows out", pushed->rows));
  return Status::Ok();
}

// The last `max` bytes of a job's output file ("" when there is none).
std::string JobOutputTail(const std::filesystem::path& path, size_t max) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size == 0) return "";
  std::ifstream f(path, std::ios::binary);
  if (size > max) f.seekg(static_cast<std::streamoff>(size - max));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return text;
}

// One attempt of task t as a job: writes its task spec, has the launcher run
// `alambic exec-task SPEC`, then reads back and stages what the job wrote,
// exactly as RunHere stages what the kind returned.
TaskSpec RecipeAttempts::JobTaskSpec(const RecipePlan& rp,
                                     const std::filesystem::path& result) const {
  const RecipeNode& node = session_.graph().node(rp.node);
  TaskSpec ts;
  ts.home = session_.home();
  ts.code_root = session_.root();
  ts.environment = session_.environment();
  ts.flow = node.flow->name;
  ts.recipe = node.recipe->name;
  ts.kind = node.recipe->kind;
  ts.params_hash = rp.params_hash;
  ts.result = result;
  return ts;
}

Status RecipeAttempts::RunJob(int t, int attempt, const CancelToken& cancel) {
  namespace fs = std::filesystem;
  const RecipePlan& rp = *tp_.recipes[static_cast<size_t>(t)];
  const RecipeNode& node = session_.graph().node(rp.node);
  const RecipeSpec& spec = *node.recipe;
  if (node.flow->partitioning && FanOutRefusal(spec).empty())
    if (auto fanned = RunFanOut(t, attempt, cancel)) return *fanned;
  TaskResult& res = results_[static_cast<size_t>(t)];
  RecipeLogger& log = *res.logger;
  const fs::path dir = job_dir_ / fmt::format("{}-{}", t, attempt);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", dir.string(), ec.message()));
  TaskSpec ts = JobTaskSpec(rp, dir / "result.json");
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    const std::string& ds = spec.inputs[k];
    std::optional<fs::path> built;
    {
      std::lock_guard l(cache_mu_);
      // Built in this run: the upstream job's file (it may not be published yet).
      if (auto it = job_outputs_.find(ds); it != job_outputs_.end()) built = it->second;
    }
    if (built) {
      ts.inputs.push_back({ds, rp.input_versions[k], *built});
    } else if (!session_.store().backend()) {
      ts.inputs.push_back(
          {ds, rp.input_versions[k], session_.store().PathFor(ds, rp.input_versions[k])});
    } else {
      // A store of tables (PostgreSQL): the coordinator reads the version (or
      // what this run staged of it) and hands the job a file, so a job never
      // connects to the database nor needs its password.
      auto table = session_.store().Read(ds, rp.input_versions[k]);
      if (!table.ok())
        return table.status().WithContext(
            fmt::format("recipe {}: reading input {} for its job", spec.name, ds));
      const fs::path in = dir / fmt::format("in-{}.arrow", k);
      ALAMBIC_RETURN_IF_ERROR(WriteArrowFileToPath(*table, in.string())
                                  .WithContext(fmt::format("recipe {}: input {}", spec.name, ds)));
      ts.inputs.push_back({ds, rp.input_versions[k], in});
    }
  }
  for (size_t k = 0; k < spec.outputs.size(); ++k)
    ts.outputs.push_back(
        {spec.outputs[k], rp.output_versions[k], dir / fmt::format("out-{}.arrow", k)});
  ALAMBIC_RETURN_IF_ERROR(WriteJsonFile(dir / "spec.json", TaskSpecJson(ts)));

  JobRequest job;
  job.name = fmt::format("{}/{}", node.flow->name, spec.name);
  job.argv = {job_binary_.string(), "exec-task", (dir / "spec.json").string()};
  job.workdir = session_.home();
  job.output = dir / "job.out";
  job.resources = spec.resources;
  job.env = RecipeSecretEnv(session_.workspace().config, session_.environment(), spec);
  if (attempt > 1) log.Info(fmt::format("attempt {}", attempt));
  Status ran = launcher_->RunJob(job, cancel, [&](const std::string& id) {
    {
      std::lock_guard l(res.mu);
      res.job_ids.push_back(id);
    }
    log.Info(fmt::format("job {} submitted {}", id, launcher_->Describe()));
  });
  if (std::string out = JobOutputTail(job.output, 64 << 10); !out.empty()) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) log.Info("job output: " + line);
  }
  if (cancel.cancelled()) return cancel.AsStatus();
  if (!ran.ok()) return ran;
  auto rj = ReadJsonFile(ts.result);
  if (!rj.ok()) return rj.status().WithContext("the job ended without its result");
  ALAMBIC_ASSIGN_OR_RETURN(TaskResultFile result, TaskResultFromJson(*rj));
  for (const auto& [level, line] : result.log) log.Log(level, line);
  if (!result.ok) {
    std::lock_guard l(res.mu);
    if (!cancel.cancelled()) {
      res.rows_in = result.rows_in;
      res.metrics = std::move(result.metrics);
    }
    return Status::Failed(result.error);
  }
  if (result.outputs.size() != spec.outputs.size())
    return Status::Internal(fmt::format("recipe {}: the job reported {} outputs for {}", spec.name,
                                        result.outputs.size(), spec.outputs.size()));
  // Validate what the job wrote and stage it as a local attempt would.
  AttemptOutputs staged;
  auto discard = [&] {
    for (auto& s : staged.staged) session_.store().Discard(s);
    staged.staged.clear();
  };
  for (size_t k = 0; k < spec.outputs.size(); ++k) {
    auto table = ReadArrowFile(ts.outputs[k].path.string());
    if (!table.ok()) {
      discard();
      return table.status().WithContext(
          fmt::format("recipe {}: output {} of the job", spec.name, spec.outputs[k]));
    }
    if (table->num_rows() != result.outputs[k].rows ||
        SchemaJson(table->schema()) != result.outputs[k].schema) {
      discard();
      return Status::Failed(
          fmt::format("recipe {}: output {} of the job does not match its result (rows or schema)",
                      spec.name, spec.outputs[k]));
    }
    Status st = StageOutput(spec, rp, k, *table, std::move(result.outputs[k].lineage), staged);
    if (!st.ok()) return st;
  }
  if (Status st = Commit(res, cancel, std::move(staged), result.rows_in, std::move(result.metrics));
      !st.ok())
    return st;
  {
    std::lock_guard l(cache_mu_);
    for (size_t k = 0; k < spec.outputs.size(); ++k)
      job_outputs_[spec.outputs[k]] = ts.outputs[k].path;
  }
  return Status::Ok();
}

std::optional<Status> RecipeAttempts::RunFanOut(int t, int attempt, const CancelToken& cancel) {
  namespace fs = std::filesystem;
  const RecipePlan& rp = *tp_.recipes[static_cast<size_t>(t)];
  const RecipeNode& node = session_.graph().node(rp.node);
  const RecipeSpec& spec = *node.recipe;
  struct {
    std::string by;
    int max_jobs;
  } const fan{node.flow->partitioning->by, std::max(1, session_.environment_spec().slurm.max_jobs)};
  TaskResult& res = results_[static_cast<size_t>(t)];
  RecipeLogger& log = *res.logger;
  const std::string context = fmt::format("recipe {}", spec.name);

  // The whole input: the file its job wrote in this run, else the store's version.
  const std::string& ds = spec.inputs[0];
  std::optional<fs::path> built;
  {
    std::lock_guard l(cache_mu_);
    if (auto it = job_outputs_.find(ds); it != job_outputs_.end()) built = it->second;
  }
  auto input =
      built ? ReadArrowFile(built->string()) : session_.store().Read(ds, rp.input_versions[0]);
  if (!input.ok())
    return input.status().WithContext(fmt::format("{}: reading input {}", context, ds));
  // An input without the partition column (an aggregate, ...): one job.
  if (input->schema().FieldIndex(fan.by) < 0) return std::nullopt;
  const fs::path dir = job_dir_ / fmt::format("{}-{}", t, attempt);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(fmt::format("{}: {}", dir.string(), ec.message()));
  if (attempt > 1) log.Info(fmt::format("attempt {}", attempt));
  auto split = SplitByColumn(*input, fan.by);
  if (!split.ok()) return split.status().WithContext(context);
  Partitions parts = std::move(*split);
  if (parts.values.empty()) {  // no rows: one job over the empty input
    parts.values.emplace_back();
    parts.rows.emplace_back();
  }
  const size_t n = parts.values.size();
  std::vector<std::optional<PartitionDone>> done;
  {
    std::lock_guard l(cache_mu_);
    done = partitions_done_[t];
  }
  if (done.size() != n) done.assign(n, std::nullopt);
  std::vector<size_t> todo;
  for (size_t i = 0; i < n; ++i)
    if (!done[i]) todo.push_back(i);
  log.Info(fmt::format("partitioned by {}: {} partitions, {} to run, at most {} jobs at once",
                       fan.by, n, todo.size(), fan.max_jobs));

  // Each partition to run: its input file, its spec, its job.
  const std::vector<std::string> env =
      RecipeSecretEnv(session_.workspace().config, session_.environment(), spec);
  auto run_partition = [&](size_t i) -> Result<PartitionDone> {
    const std::string label = fmt::format("partition {} of {} ({} = {})", i + 1, n, fan.by,
                                          parts.values[i].empty() ? "null" : parts.values[i]);
    ALAMBIC_ASSIGN_OR_RETURN(Table part, PartitionInput(*input, parts.rows[i]));
    TaskSpec ts = JobTaskSpec(rp, dir / fmt::format("p{}-result.json", i));
    const fs::path in = dir / fmt::format("p{}-in.arrow", i);
    ALAMBIC_RETURN_IF_ERROR(WriteArrowFileToPath(part, in.string()));
    ts.inputs.push_back({ds, rp.input_versions[0], in});
    for (size_t k = 0; k < spec.outputs.size(); ++k)
      ts.outputs.push_back(
          {spec.outputs[k], rp.output_versions[k], dir / fmt::format("p{}-out-{}.arrow", i, k)});
    ALAMBIC_RETURN_IF_ERROR(WriteJsonFile(dir / fmt::format("p{}-spec.json", i), TaskSpecJson(ts)));
    JobRequest job;
    job.name = fmt::format("{}/{}#{}", node.flow->name, spec.name, i + 1);
    job.argv = {job_binary_.string(), "exec-task",
                (dir / fmt::format("p{}-spec.json", i)).string()};
    job.workdir = session_.home();
    job.output = dir / fmt::format("p{}-job.out", i);
    job.resources = spec.resources;
    job.env = env;
    Status ran = launcher_->RunJob(job, cancel, [&](const std::string& id) {
      {
        std::lock_guard l(res.mu);
        res.job_ids.push_back(id);
      }
      log.Info(fmt::format("job {} submitted {}, {}", id, launcher_->Describe(), label));
    });
    if (std::string out = JobOutputTail(job.output, 16 << 10); !out.empty()) {
      std::istringstream lines(out);
      for (std::string line; std::getline(lines, line);)
        log.Info(fmt::format("{} job output: {}", label, line));
    }
    if (cancel.cancelled()) return cancel.AsStatus();
    if (!ran.ok()) return ran.WithContext(label);
    auto rj = ReadJsonFile(ts.result);
    if (!rj.ok()) return rj.status().WithContext(label + ": the job ended without its result");
    ALAMBIC_ASSIGN_OR_RETURN(TaskResultFile result, TaskResultFromJson(*rj));
    if (!result.ok) {
      for (const auto& [level, line] : result.log) log.Log(level, label + ": " + line);
      return Status::Failed(fmt::format("{}: {}", label, result.error));
    }
    if (result.outputs.size() != spec.outputs.size())
      return Status::Internal(fmt::format("{}: the job reported {} outputs for {}", label,
                                          result.outputs.size(), spec.outputs.size()));
    PartitionDone d;
    for (const auto& o : ts.outputs) d.outputs.push_back(o.path);
    d.result = std::move(result);
    return d;
  };
  // At most max_jobs partitions at once, each waiting for its job on a thread.
  const size_t limit = static_cast<size_t>(fan.max_jobs);
  std::atomic<size_t> next{0};
  std::mutex done_mu;
  std::vector<std::pair<size_t, Status>> failures;
  auto worker = [&] {
    for (size_t j; (j = next.fetch_add(1)) < todo.size() && !cancel.cancelled();) {
      const size_t i = todo[j];
      auto d = run_partition(i);
      std::lock_guard l(done_mu);
      if (d.ok())
        done[i] = std::move(*d);
      else
        failures.emplace_back(i, d.status());
    }
  };
  {
    std::vector<std::thread> threads;
    for (size_t k = 1; k < std::min(limit, todo.size()); ++k) threads.emplace_back(worker);
    worker();
    for (auto& th : threads) th.join();
  }
  {
    // What succeeded is kept for the next attempt (the files stay until the run ends).
    std::lock_guard l(cache_mu_);
    partitions_done_[t] = done;
  }
  if (cancel.cancelled()) return cancel.AsStatus();
  if (!failures.empty()) {
    std::sort(failures.begin(), failures.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [i, st] : failures) log.Log(LogLevel::kError, st.message());
    return Status::Failed(
        fmt::format("{} of {} partition jobs failed (the next attempt runs only "
                    "those); first: {}",
                    failures.size(), n, failures[0].second.message()));
  }

  // Combine each output in the input's row order, check it, stage it.
  AttemptOutputs staged;
  nlohmann::json metrics = nlohmann::json::object();
  for (size_t i = 0; i < n; ++i)
    for (const auto& [key, v] : done[i]->result.metrics.items()) {
      if (i == 0)
        metrics[key] = v;
      else if (v.is_number_integer() && metrics[key].is_number_integer())
        metrics[key] = metrics[key].get<int64_t>() + v.get<int64_t>();
    }
  metrics["fan_out"] = {{"by", fan.by}, {"partitions", n}};
  std::vector<fs::path> combined_files;
  for (size_t k = 0; k < spec.outputs.size(); ++k) {
    std::vector<Table> outs;
    for (size_t i = 0; i < n; ++i) {
      auto table = ReadArrowFile(done[i]->outputs[k].string());
      if (!table.ok() || table->num_rows() != done[i]->result.outputs[k].rows ||
          SchemaJson(table->schema()) != done[i]->result.outputs[k].schema) {
        for (auto& s : staged.staged) session_.store().Discard(s);
        std::lock_guard l(cache_mu_);
        partitions_done_[t][i].reset();  // run it again
        return Status::Failed(fmt::format(
            "{}: output {} of partition {}'s job is missing or does not match its result", context,
            spec.outputs[k], i + 1));
      }
      outs.push_back(std::move(*table));
    }
    auto table = CombinePartitions(outs);
    if (!table.ok()) {
      for (auto& s : staged.staged) session_.store().Discard(s);
      return table.status().WithContext(context);
    }
    std::vector<ColumnLineageEdge> lineage;
    for (auto& e : done[0]->result.outputs[k].lineage)
      if (e.column != kFanOutRowColumn && e.input_column != kFanOutRowColumn) lineage.push_back(e);
    // Downstream jobs of this run read the combined table from here.
    const fs::path file = dir / fmt::format("out-{}.arrow", k);
    Status st = WriteArrowFileToPath(*table, file.string());
    if (st.ok()) st = StageOutput(spec, rp, k, *table, std::move(lineage), staged);
    if (!st.ok()) {
      for (auto& s : staged.staged) session_.store().Discard(s);
      return st.WithContext(context);
    }
    combined_files.push_back(file);
  }
  const int64_t rows_out = staged.rows_out;
  if (Status st = Commit(res, cancel, std::move(staged), input->num_rows(), std::move(metrics));
      !st.ok())
    return st;
  {
    std::lock_guard l(cache_mu_);
    for (size_t k = 0; k < spec.outputs.size(); ++k)
      job_outputs_[spec.outputs[k]] = combined_files[k];
  }
  log.Info(fmt::format("{} partitions combined: {} rows in, {} rows out", n, input->num_rows(),
                       rows_out));
  return Status::Ok();
}

// ---- Recording (and handing to publishing) ----

// Observes the executor: stamps each recipe's start, logs its retries, and
// when it ends writes its recipe run record and, for a success, the versions
// and recipe state it publishes; pushes both to the Publisher. Called on the
// executor's coordinating thread, one event at a time.
class RunRecorder final : public ExecObserver {
 public:
  RunRecorder(Session& session, const TaskPlan& tp, RecipeAttempts& attempts, Publisher& publisher,
              RunSummary& summary, RunObserver* observer, Clock& clock)
      : session_(session),
        tp_(tp),
        attempts_(attempts),
        publisher_(publisher),
        summary_(summary),
        observer_(observer),
        clock_(clock),
        records_(tp.recipes.size()) {}

  void TaskStarted(int t, int attempt) override {
    if (attempt == 1) attempts_.result(t).started_at = IsoTime(clock_.Now());
    if (observer_) observer_->RecipeStarted(node(t), attempt);
  }
  void TaskRetrying(int t, int attempt, const Status& why, double delay) override {
    attempts_.result(t).logger->Warn(
        fmt::format("attempt {} failed: {}; retrying in {:.3g}s", attempt, why.message(), delay));
    if (observer_) observer_->RecipeRetrying(node(t), attempt, why, delay);
  }
  void TaskFinished(int t, const TaskOutcome& o) override;

  // The records, one per task, in task order.
  std::vector<RecipeRunRecord>& records() { return records_; }

 private:
  const RecipeNode& node(int t) const {
    return session_.graph().node(tp_.recipes[static_cast<size_t>(t)]->node);
  }

  Session& session_;
  const TaskPlan& tp_;
  RecipeAttempts& attempts_;
  Publisher& publisher_;
  RunSummary& summary_;
  RunObserver* observer_;
  Clock& clock_;
  std::vector<RecipeRunRecord> records_;
};

void RunRecorder::TaskFinished(int t, const TaskOutcome& o) {
  const auto ti = static_cast<size_t>(t);
  const RecipePlan& rp = *tp_.recipes[ti];
  const RecipeNode& nd = session_.graph().node(rp.node);
  const RecipeSpec& spec = *nd.recipe;
  const RunRecord& run = summary_.run;
  TaskResult& res = attempts_.result(t);
  std::lock_guard res_lock(res.mu);
  RecipeRunRecord& rec = records_[ti];
  rec.run_id = run.id;
  rec.uuid = NewUuid();
  for (size_t k = 0; k < spec.inputs.size() && k < rp.input_versions.size(); ++k)
    rec.inputs[spec.inputs[k]] = rp.input_versions[k];
  rec.flow = nd.flow->name;
  rec.recipe = spec.name;
  rec.kind = spec.kind;
  rec.status = RecipeRunStatus(o.state);
  rec.reason = rp.explanation;
  rec.attempts = o.attempts;
  rec.started_at = res.started_at;
  rec.finished_at = o.attempts > 0 ? IsoTime(clock_.Now()) : "";
  rec.duration_ms = o.seconds * 1000;
  rec.error = o.status.ok() ? "" : o.status.message();
  if (o.state == TaskState::kSkipped) res.logger->Info(o.status.message());
  rec.log = res.logger->text();
  Publisher::Item item;
  if (o.state == TaskState::kSucceeded) {
    rec.rows_in = res.rows_in;
    rec.rows_out = res.rows_out;
    rec.bytes_out = res.bytes_out;
    rec.metrics = res.metrics.is_object() ? res.metrics : nlohmann::json::object();
    RecipeState state;
    state.params_hash = rp.params_hash;
    state.code_hash = rp.code_hash;
    state.source_fingerprint = rp.source_fingerprint;
    state.salt = rp.salt;
    state.run_id = run.id;
    std::vector<std::pair<std::string, std::string>> inputs;
    for (size_t k = 0; k < spec.inputs.size(); ++k) {
      state.inputs[spec.inputs[k]] = rp.input_versions[k];
      inputs.emplace_back(spec.inputs[k], rp.input_versions[k]);
    }
    for (size_t k = 0; k < res.staged.size(); ++k) {
      const auto& s = res.staged[k];
      state.outputs[s.dataset] = s.version;
      rec.outputs[s.dataset] = s.version;
      rec.output_rows.emplace_back(s.dataset, res.out_rows[k]);
      DatasetVersionRecord v;
      v.id = s.version;
      v.dataset = s.dataset;
      v.environment = run.environment;
      v.file = DatasetStore::RelativePath(s.dataset, s.version);
      v.rows = res.out_rows[k];
      v.schema = res.out_schemas[k];
      v.bytes = s.bytes;
      v.run_id = run.id;
      v.flow = nd.flow->name;
      v.recipe = spec.name;
      v.created_at = rec.finished_at;
      v.inputs = inputs;
      if (k < res.out_lineage.size()) v.column_lineage = std::move(res.out_lineage[k]);
      item.batch.versions.push_back(std::move(v));
    }
    item.batch.states.emplace_back(nd.flow->name, spec.name, std::move(state));
    item.staged = std::move(res.staged);
    ++summary_.succeeded;
  } else if (o.state == TaskState::kSkipped) {
    ++summary_.skipped;
  } else if (o.state == TaskState::kCancelled) {
    ++summary_.cancelled;
  } else {
    ++summary_.failed;
    // What a failing kind measured (a check's results) is kept with the failure. Only
    // for a recipe that returned: a timed-out one may still be running.
    if (o.state == TaskState::kFailed) {
      rec.rows_in = res.rows_in;
      if (res.metrics.is_object()) rec.metrics = res.metrics;
    }
  }
  for (auto& s : res.staged) session_.store().Discard(s);
  res.staged.clear();
  attempts_.Release(spec);
  if (!res.job_ids.empty()) {
    if (!rec.metrics.is_object()) rec.metrics = nlohmann::json::object();
    rec.metrics["slurm_jobs"] = res.job_ids;
  }
  item.batch.recipe_runs.push_back(rec);
  publisher_.Push(std::move(item));
  if (observer_) observer_->RecipeFinished(nd, rec);
}

// ---- Publishing ----

// Waits for the publisher to finish. When it failed, a recipe whose outputs
// could not be published failed, whatever it returned: its record (in
// `records`, and the summary's counts) says so and is written again on its own
// (best effort: the catalog may be what failed). Returns the publishing error.
Status FinishPublishing(Session& session, Publisher& publisher,
                        std::vector<RecipeRunRecord>& records, RunSummary& summary) {
  Status published = publisher.Close();
  if (published.ok()) return published;
  CatalogBatch again;
  again.environment = session.environment();
  for (auto& rec : records) {
    if (!publisher.unpublished().count(rec.uuid)) continue;
    if (rec.status == "succeeded") {
      rec.status = "failed";
      rec.error = published.message();
      rec.outputs.clear();
      --summary.succeeded;
      ++summary.failed;
    }
    again.recipe_runs.push_back(rec);
  }
  if (!again.recipe_runs.empty() && !session.catalog().Commit(again).ok()) {
    for (auto& rec : again.recipe_runs) rec.log.clear();
    (void)session.catalog().Commit(again);
  }
  return published;
}

// ---- Recording the run ----

// Opens the run in the catalog: its record, the versions made current again
// and the up-to-date recipes in one commit, then the secrets it uses.
Status RecordRunStart(Session& session, const Plan& plan, const RunRecord& run, Clock& clock) {
  CatalogBatch batch;
  batch.environment = session.environment();
  batch.begin_run = run;
  ALAMBIC_RETURN_IF_ERROR(AddRestoredVersions(session, plan, run.id, IsoTime(clock.Now()), batch));
  ALAMBIC_RETURN_IF_ERROR(AddUpToDate(session, plan, run, batch));
  ALAMBIC_RETURN_IF_ERROR(session.catalog().Commit(batch));
  return AuditSecretUse(session, plan, run);
}

// Closes the run: its status from the recipes' (and publishing's) outcome, its
// end in the catalog and its audit entry.
Status RecordRunEnd(Session& session, const Status& published, bool stopped, RunSummary& summary,
                    Clock& clock) {
  RunRecord& run = summary.run;
  if (!published.ok()) {
    run.status = "failed";
    run.error = published.message();
  } else if (summary.failed > 0) {
    run.status = "failed";
    run.error = fmt::format("{} recipe(s) failed", summary.failed);
  } else if (stopped || summary.cancelled > 0) {
    run.status = "cancelled";
    run.error = "stopped by the user";
  } else {
    run.status = "succeeded";
  }
  run.finished_at = IsoTime(clock.Now());
  ALAMBIC_RETURN_IF_ERROR(
      session.catalog().FinishRun(run.id, run.status, run.finished_at, run.error));
  return AuditRun(session, summary);
}

// The executor of the session's environment (or of options.executor_kind):
// local, or Slurm (which is also the run's JobLauncher, checked to answer).
Result<std::unique_ptr<Executor>> MakeExecutor(Session& session, const RunOptions& options,
                                               JobLauncher** launcher) {
  const EnvironmentSpec& env = session.environment_spec();
  const std::string kind = options.executor_kind.empty() ? env.executor : options.executor_kind;
  if (kind == "local") return std::unique_ptr<Executor>(new LocalExecutor(options.exec));
  if (kind != "slurm")
    return Status::Invalid(fmt::format("unknown executor '{}' (expected local or slurm)", kind));
  SlurmSettings settings = env.slurm;
  if (settings.staging.empty()) settings.staging = session.state_dir() / "slurm";
  auto slurm = std::make_unique<SlurmExecutor>(settings, options.exec);
  ALAMBIC_RETURN_IF_ERROR(slurm->CheckCluster().WithContext(
      fmt::format("environment {} (alambic.yaml)", session.environment())));
  *launcher = slurm.get();
  return std::unique_ptr<Executor>(std::move(slurm));
}

}  // namespace

namespace {

constexpr const char* kLockHeld =
    "another alambic run or gc is in progress in this workspace (it holds the lock on .alambic)";

// The directory opened and locked, or -1 when another holds its lock.
Result<int> TryLockDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  // The lock is on the directory itself: a file inside it could be deleted (or
  // replaced) during a run, and the next run would then lock a new file.
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(fmt::format("{}: {}", dir.string(), std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK || err == EINTR) return -1;
    return Status::IoError(
        fmt::format("{}: cannot lock the directory: {}", dir.string(), std::strerror(err)));
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<WorkspaceLock>> WorkspaceLock::Acquire(const std::filesystem::path& dir) {
  ALAMBIC_ASSIGN_OR_RETURN(int fd, TryLockDirectory(dir));
  if (fd < 0) return Status::Failed(kLockHeld);
  return std::unique_ptr<WorkspaceLock>(new WorkspaceLock(fd));
}

Result<std::unique_ptr<WorkspaceLock>> WorkspaceLock::AcquireWaiting(
    const std::filesystem::path& dir, const CancelToken* cancel,
    const std::function<void(const std::string&)>& waiting) {
  for (bool told = false;; std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    ALAMBIC_ASSIGN_OR_RETURN(int fd, TryLockDirectory(dir));
    if (fd >= 0) return std::unique_ptr<WorkspaceLock>(new WorkspaceLock(fd));
    if (!told && waiting) waiting(std::string(kLockHeld) + ": waiting for it");
    told = true;
    if (cancel && cancel->cancelled()) {
      const std::string what =
          " while waiting for the workspace's lock (another alambic run or gc held it)";
      return cancel->reason() == StatusCode::kTimedOut ? Status::TimedOut("timed out" + what)
                                                       : Status::Cancelled("cancelled" + what);
    }
  }
}

WorkspaceLock::~WorkspaceLock() { ::close(fd_); }

Result<RunSummary> RunFlows(Session& session, const RunOptions& options, RunObserver* observer) {
  const auto started = RunSteadyClock::now();
  SystemClock system_clock;
  Clock& clock = options.clock ? *options.clock : system_clock;

  // Planning.
  ALAMBIC_ASSIGN_OR_RETURN(
      auto lock, options.wait_for_lock
                     ? WorkspaceLock::AcquireWaiting(session.state_dir(), options.exec.stop,
                                                     options.lock_waiting)
                     : WorkspaceLock::Acquire(session.state_dir()));
  ALAMBIC_RETURN_IF_ERROR(CloseAbandonedRuns(session.catalog(), clock));
  session.store().CleanTemporaries();
  ALAMBIC_ASSIGN_OR_RETURN(Plan plan, session.MakePlan(options.plan));
  std::unique_ptr<Executor> own_executor;
  Executor* executor = options.executor;
  JobLauncher* launcher = options.launcher;
  if (!executor) {
    ALAMBIC_ASSIGN_OR_RETURN(own_executor, MakeExecutor(session, options, &launcher));
    executor = own_executor.get();
  }
  RunSummary summary;
  summary.run = NewRunRecord(session, options, clock);
  ALAMBIC_RETURN_IF_ERROR(RecordRunStart(session, plan, summary.run, clock));
  if (observer) observer->RunStarted(summary.run, plan);
  const TaskPlan tp = PlanTasks(session.graph(), plan);
  summary.up_to_date = tp.up_to_date;

  // Executing, with recording and publishing as each recipe ends.
  std::filesystem::path job_dir;
  std::filesystem::path job_binary = options.job_binary;
  if (launcher) {
    job_dir = launcher->staging() / summary.run.id;
    if (job_binary.empty()) job_binary = std::filesystem::read_symlink("/proc/self/exe");
  }
  RecipeAttempts attempts(session, tp, observer, clock, launcher, job_dir, job_binary);
  Publisher publisher(session.store(), session.catalog(), session.environment());
  RunRecorder recorder(session, tp, attempts, publisher, summary, observer, clock);
  executor->Execute(
      tp.tasks,
      [&attempts](int t, int attempt, const CancelToken& cancel) {
        return attempts.Run(t, attempt, cancel);
      },
      &recorder);
  attempts.ClearCache();
  if (launcher) {
    std::error_code ec;
    std::filesystem::remove_all(job_dir, ec);  // the outputs are staged in the store by now
  }

  // Publishing ends; recording the run.
  Status published = FinishPublishing(session, publisher, recorder.records(), summary);
  summary.plan = std::move(plan);
  summary.recipes = std::move(recorder.records());
  summary.seconds = std::chrono::duration<double>(RunSteadyClock::now() - started).count();
  ALAMBIC_RETURN_IF_ERROR(
      RecordRunEnd(session, published, executor->stop_requested(), summary, clock));
  if (observer) observer->RunFinished(summary);
  return summary;
}

}  // namespace alambic
