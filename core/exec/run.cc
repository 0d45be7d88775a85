#include "core/exec/run.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "core/base/actor.h"
#include "core/base/secrets.h"
#include "core/vcs/git.h"

namespace alambic {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kDefaultRetryBackoffSeconds = 1.0;
// How many of the newest runs are looked at for ones left `running`.
constexpr int kAbandonedLookback = 1000;
// The most log a recipe run keeps (catalog and console); the rest is dropped.
constexpr size_t kMaxRecipeLog = size_t{4} << 20;

// Collects a recipe's log lines for the catalog and forwards them.
class TaskLogger final : public RecipeLogger {
 public:
  TaskLogger(const RecipeNode& node, RunObserver* obs) : node_(node), obs_(obs) {}
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
        text_ += fmt::format("{} warn {}\n", NowIso(), note);
      } else {
        text_ += fmt::format("{} {} {}\n", NowIso(), kNames[static_cast<int>(level)], message);
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
  std::mutex mu_;
  std::string text_;
  bool truncated_ = false;
};

// Publishes finished recipes in group commits on its own thread: one fsync
// round and one catalog transaction for whatever has queued up meanwhile.
class Publisher {
 public:
  Publisher(const DatasetStore& store, Catalog& catalog, std::string env)
      : store_(store), catalog_(catalog), env_(std::move(env)), thread_([this] { Loop(); }) {}
  ~Publisher() { (void)Close(); }

  struct Item {
    std::vector<DatasetStore::Staged> staged;
    CatalogBatch batch;
  };
  void Push(Item item) {
    std::lock_guard l(mu_);
    queue_.push_back(std::move(item));
    cv_.notify_one();
  }
  // Waits for everything queued, stops the thread, and returns the first error.
  Status Close() {
    {
      std::lock_guard l(mu_);
      if (closed_) return error_;
      closed_ = true;
      cv_.notify_one();
    }
    thread_.join();
    return error_;
  }
  // After Close: the recipe runs (uuids) whose batch was not published.
  const std::unordered_set<std::string>& unpublished() const { return unpublished_; }

 private:
  void Loop() {
    for (;;) {
      std::vector<Item> items;
      {
        std::unique_lock l(mu_);
        cv_.wait(l, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty() && closed_) return;
        while (!queue_.empty()) {
          items.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      std::vector<DatasetStore::Staged> staged;
      CatalogBatch batch;
      batch.environment = env_;
      for (auto& it : items) {
        staged.insert(staged.end(), it.staged.begin(), it.staged.end());
        for (auto& r : it.batch.recipe_runs) batch.recipe_runs.push_back(std::move(r));
        for (auto& v : it.batch.versions) batch.versions.push_back(std::move(v));
        for (auto& s : it.batch.states) batch.states.push_back(std::move(s));
      }
      Status st = error_.ok() ? store_.Publish(staged) : error_;
      if (st.ok()) st = catalog_.Commit(batch);
      if (!st.ok()) {
        for (const auto& s : staged) store_.Discard(s);
        std::lock_guard l(mu_);
        if (error_.ok()) error_ = st.WithContext("publishing");
        for (const auto& r : batch.recipe_runs) unpublished_.insert(r.uuid);
      }
    }
  }

  const DatasetStore& store_;
  Catalog& catalog_;
  std::string env_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool closed_ = false;
  Status error_;
  std::unordered_set<std::string> unpublished_;
  std::thread thread_;
};

std::string SchemaJson(const Schema& s) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& f : s.fields)
    j.push_back({{"name", f.name}, {"type", TypeName(f.type)}, {"nullable", f.nullable}});
  return j.dump();
}

std::string StatusFor(TaskState s) {
  switch (s) {
    case TaskState::kSucceeded:
      return "succeeded";
    case TaskState::kFailed:
      return "failed";
    case TaskState::kTimedOut:
      return "timed_out";
    case TaskState::kCancelled:
      return "cancelled";
    case TaskState::kSkipped:
      return "skipped";
    default:
      return "pending";
  }
}

// The column lineage a kind reported for one output, as catalog edges. A kind
// that reported none (`lineage` null) gets opaque edges: every output column
// may depend on any column of every input. Columns the kind left out of its map
// are opaque too.
std::vector<ColumnLineageEdge> LineageEdges(
    const Schema& schema, const std::map<std::string, std::vector<ColumnSource>>* lineage,
    const std::vector<std::string>& inputs) {
  std::vector<ColumnLineageEdge> edges;
  for (const auto& f : schema.fields) {
    const std::vector<ColumnSource>* sources = nullptr;
    if (lineage) {
      auto it = lineage->find(f.name);
      if (it != lineage->end()) sources = &it->second;
    }
    if (sources) {
      for (const auto& src : *sources)
        edges.push_back({f.name, src.dataset, src.column,
                         src.transform.empty() ? kTransformTransformation : src.transform});
      continue;
    }
    for (const auto& in : inputs) edges.push_back({f.name, in, "", kTransformOpaque});
  }
  return edges;
}

// Adds the NAME of every "secret:NAME" string in `j`, at any depth.
void CollectSecretNames(const nlohmann::json& j, std::set<std::string>* names) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (IsSecretRef(s)) names->insert(s.substr(kSecretPrefix.size()));
  } else if (j.is_structured()) {
    for (const auto& v : j) CollectSecretNames(v, names);
  }
}

// One "secret.use" audit entry per secret the recipes to run name in their
// params: the secret's name and the recipes, never its value.
Status AuditSecretUse(Session& session, const Plan& plan, const RunRecord& run) {
  std::map<std::string, std::vector<const RecipeNode*>> users;  // secret -> recipes
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kRun) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    std::set<std::string> names;
    CollectSecretNames(node.recipe->params, &names);
    for (const auto& n : names) users[n].push_back(&node);
  }
  for (const auto& [secret, nodes] : users) {
    AuditEntry e;
    e.user = run.user;
    e.host = run.host;
    e.action = kAuditSecretUse;
    e.environment = run.environment;
    std::set<std::string> flows;
    nlohmann::json recipes = nlohmann::json::array();
    for (const RecipeNode* n : nodes) {
      flows.insert(n->flow->name);
      recipes.push_back(n->flow->name + "/" + n->recipe->name);
    }
    for (const auto& f : flows) e.flow += (e.flow.empty() ? "" : ",") + f;
    e.target = run.id;
    e.outcome = kAuditOk;
    e.detail = {{"secret", secret}, {"recipes", std::move(recipes)}};
    ALAMBIC_RETURN_IF_ERROR(session.catalog().AppendAudit(std::move(e)));
  }
  return Status::Ok();
}

// The "run" audit entry of a finished run.
Status AuditRun(Session& session, const RunSummary& summary) {
  const RunRecord& run = summary.run;
  AuditEntry e;
  e.user = run.user;
  e.host = run.host;
  e.action = kAuditRun;
  e.environment = run.environment;
  e.flow = run.flows;
  e.target = run.id;
  e.outcome = run.status;
  e.detail = {{"commit", run.git_commit},
              {"dirty", run.git_dirty},
              {"release", run.release},
              {"trigger", run.trigger},
              {"recipes",
               {{"succeeded", summary.succeeded},
                {"failed", summary.failed},
                {"cancelled", summary.cancelled},
                {"skipped", summary.skipped},
                {"up_to_date", summary.up_to_date}}}};
  if (!run.error.empty()) e.detail["error"] = run.error;
  return session.catalog().AppendAudit(std::move(e));
}

// A recipe run of status up_to_date for each up-to-date recipe of the plan:
// the versions it found current, and the metrics of the recipe run that built
// them (so that what a commit produced can be read from its latest run alone).
Status RecordUpToDate(Session& session, const Plan& plan, const RunRecord& run) {
  Catalog& catalog = session.catalog();
  CatalogBatch batch;
  batch.environment = run.environment;
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kUpToDate) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    RecipeRunRecord rec;
    rec.run_id = run.id;
    rec.uuid = NewUuid();
    rec.flow = node.flow->name;
    rec.recipe = spec.name;
    rec.kind = spec.kind;
    rec.status = "up_to_date";
    rec.reason = rp.explanation;
    for (size_t k = 0; k < spec.inputs.size() && k < rp.input_versions.size(); ++k)
      rec.inputs[spec.inputs[k]] = rp.input_versions[k];
    for (size_t k = 0; k < spec.outputs.size() && k < rp.output_versions.size(); ++k)
      rec.outputs[spec.outputs[k]] = rp.output_versions[k];
    if (!spec.outputs.empty() && !rp.output_versions.empty()) {
      ALAMBIC_ASSIGN_OR_RETURN(
          auto v, catalog.FindVersion(run.environment, spec.outputs[0], rp.output_versions[0]));
      if (v && v->id == rp.output_versions[0]) {
        ALAMBIC_ASSIGN_OR_RETURN(auto built,
                                 catalog.FindRecipeRun(v->run_id, rec.flow, rec.recipe));
        if (built) rec.metrics = std::move(built->metrics);
      }
    }
    batch.recipe_runs.push_back(std::move(rec));
  }
  if (batch.recipe_runs.empty()) return Status::Ok();
  return catalog.Commit(batch);
}

// An up-to-date recipe whose expected version is published but not current
// (its params were changed, built, then changed back): that version becomes
// current again without running anything, like a build cache hit.
Status RestoreBuiltVersions(Session& session, const Plan& plan, const std::string& run_id) {
  const std::string& env = session.environment();
  ALAMBIC_ASSIGN_OR_RETURN(auto current_list, session.catalog().CurrentVersions(env));
  std::unordered_map<std::string, std::string> current;
  for (const auto& c : current_list) current[c.dataset] = c.version_id;
  CatalogBatch batch;
  batch.environment = env;
  for (const auto& rp : plan.recipes) {
    if (rp.decision != Decision::kUpToDate) continue;
    const RecipeNode& node = session.graph().node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    bool changed = false;
    for (size_t k = 0; k < spec.outputs.size() && k < rp.output_versions.size(); ++k) {
      auto it = current.find(spec.outputs[k]);
      if (it != current.end() && it->second == rp.output_versions[k]) continue;
      ALAMBIC_ASSIGN_OR_RETURN(
          auto v, session.catalog().FindVersion(env, spec.outputs[k], rp.output_versions[k]));
      if (!v) continue;
      v->created_at = NowIso();  // becomes the current version's update time
      batch.versions.push_back(std::move(*v));
      changed = true;
    }
    if (!changed) continue;
    RecipeState state;
    state.params_hash = rp.params_hash;
    state.code_hash = rp.code_hash;
    state.source_fingerprint = rp.source_fingerprint;
    state.salt = rp.salt;
    state.run_id = run_id;
    for (size_t k = 0; k < spec.inputs.size() && k < rp.input_versions.size(); ++k)
      state.inputs[spec.inputs[k]] = rp.input_versions[k];
    for (size_t k = 0; k < spec.outputs.size() && k < rp.output_versions.size(); ++k)
      state.outputs[spec.outputs[k]] = rp.output_versions[k];
    batch.states.emplace_back(node.flow->name, spec.name, std::move(state));
  }
  if (batch.versions.empty()) return Status::Ok();
  return session.catalog().Commit(batch);
}

}  // namespace

Result<std::unique_ptr<WorkspaceLock>> WorkspaceLock::Acquire(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  // The lock is on the directory itself: a file inside it could be deleted (or
  // replaced) during a run, and the next run would then lock a new file.
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(fmt::format("{}: {}", dir.string(), std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Status::Failed(
        "another alambic run or gc is in progress in this workspace (it holds the lock on "
        ".alambic)");
  }
  return std::unique_ptr<WorkspaceLock>(new WorkspaceLock(fd));
}

WorkspaceLock::~WorkspaceLock() { ::close(fd_); }

Result<RunSummary> RunFlows(Session& session, const RunOptions& options, RunObserver* observer) {
  auto started = Clock::now();
  ALAMBIC_ASSIGN_OR_RETURN(auto lock, WorkspaceLock::Acquire(session.state_dir()));
  // Holding the lock, a run still `running` in the catalog is one whose process
  // ended without finishing it. Runs are serial under the lock, so such runs are
  // among the newest (each run marks those before it).
  {
    ALAMBIC_ASSIGN_OR_RETURN(auto recent, session.catalog().ListRuns(kAbandonedLookback));
    for (const auto& r : recent)
      if (r.status == "running")
        ALAMBIC_RETURN_IF_ERROR(session.catalog().FinishRun(
            r.id, "abandoned", NowIso(),
            "abandoned: its process ended without finishing the run (killed, crashed, or the "
            "catalog could not be written); found at the next run"));
  }
  session.store().CleanTemporaries();
  ALAMBIC_ASSIGN_OR_RETURN(Plan plan, session.MakePlan(options.plan));
  const FlowGraph& g = session.graph();
  const std::string& env = session.environment();

  RunSummary summary;
  RunRecord& run = summary.run;
  run.id = options.run_id.empty() ? NewUuid() : options.run_id;
  std::string flows;
  if (options.plan.flows.empty()) {
    for (const auto& f : session.workspace().flows) flows += (flows.empty() ? "" : ",") + f.name;
  } else {
    for (const auto& f : options.plan.flows) flows += (flows.empty() ? "" : ",") + f;
  }
  run.flows = flows;
  run.environment = env;
  run.trigger = options.trigger;
  const Actor actor = Actor::Current();
  run.user = options.user.empty() ? actor.user : options.user;
  if (auto head = GitReadHead(session.root()); head.ok()) {
    run.git_commit = head->commit;
    run.git_dirty = head->dirty;
  }
  run.status = "running";
  run.started_at = NowIso();
  run.alambic_version = ALAMBIC_VERSION;
  run.host = actor.host;
  run.release = options.release;
  ALAMBIC_RETURN_IF_ERROR(session.catalog().BeginRun(run));
  ALAMBIC_RETURN_IF_ERROR(AuditSecretUse(session, plan, run));
  ALAMBIC_RETURN_IF_ERROR(RestoreBuiltVersions(session, plan, run.id));
  ALAMBIC_RETURN_IF_ERROR(RecordUpToDate(session, plan, run));
  if (observer) observer->RunStarted(run, plan);

  // One executor task per recipe to run.
  std::vector<const RecipePlan*> task_plan;
  std::unordered_map<int, int> task_of_node;
  for (const auto& rp : plan.recipes) {
    if (rp.decision == Decision::kRun) {
      task_of_node[rp.node] = static_cast<int>(task_plan.size());
      task_plan.push_back(&rp);
    } else if (rp.decision == Decision::kUpToDate) {
      ++summary.up_to_date;
    }
  }
  std::vector<ExecTask> tasks(task_plan.size());
  // How many tasks of this run read each dataset: its in-memory copy is dropped after the last.
  std::unordered_map<std::string, int> readers;
  for (size_t t = 0; t < task_plan.size(); ++t) {
    const RecipeNode& node = g.node(task_plan[t]->node);
    for (int up : g.Upstream(task_plan[t]->node)) {
      auto it = task_of_node.find(up);
      if (it != task_of_node.end()) tasks[t].deps.push_back(it->second);
    }
    for (const auto& in : node.recipe->inputs) ++readers[in];
    const ExecPolicy& rp = node.recipe->policy;
    const ExecPolicy& fp = node.flow->policy;
    tasks[t].timeout_seconds = rp.timeout_seconds.value_or(fp.timeout_seconds.value_or(0));
    tasks[t].retries = rp.retries.value_or(fp.retries.value_or(0));
    tasks[t].retry_backoff_seconds = rp.retry_backoff_seconds.value_or(
        fp.retry_backoff_seconds.value_or(kDefaultRetryBackoffSeconds));
  }

  struct TaskResult {
    std::vector<DatasetStore::Staged> staged;
    std::vector<int64_t> out_rows;
    std::vector<std::string> out_schemas;
    std::vector<std::vector<ColumnLineageEdge>> out_lineage;
    nlohmann::json metrics;
    int64_t rows_in = 0, rows_out = 0, bytes_out = 0;
    std::unique_ptr<TaskLogger> logger;
    std::string started_at;  // written and read on the executor's control thread
    // Guards the fields above against an attempt that outlives its timeout: such
    // a worker may still be running when the task is finished or retried.
    std::mutex mu;
  };
  std::vector<TaskResult> results(task_plan.size());
  for (size_t t = 0; t < task_plan.size(); ++t)
    results[t].logger = std::make_unique<TaskLogger>(g.node(task_plan[t]->node), observer);

  std::mutex cache_mu;
  std::unordered_map<std::string, std::shared_ptr<const Table>>
      cache;  // dataset -> table built this run
  std::unordered_map<std::string, int> readers_left = readers;

  Publisher publisher(session.store(), session.catalog(), env);

  auto run_task = [&](int t, int attempt, const CancelToken& cancel) -> Status {
    const RecipePlan& rp = *task_plan[static_cast<size_t>(t)];
    const RecipeNode& node = g.node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    TaskResult& res = results[static_cast<size_t>(t)];
    const RecipeKind* kind = session.kinds().Find(spec.kind);
    RecipeContext ctx = session.MakeContext(spec);
    ctx.log = res.logger.get();
    ctx.cancel = &cancel;
    if (observer)
      ctx.progress = [observer, &node](int64_t rows) { observer->RecipeProgress(node, rows); };
    // This attempt's results stay local until it commits them (below).
    int64_t rows_in = 0, rows_out = 0, bytes_out = 0;
    std::vector<DatasetStore::Staged> staged_outputs;
    auto discard = [&] {
      for (auto& s : staged_outputs) session.store().Discard(s);
      staged_outputs.clear();
    };
    for (size_t k = 0; k < spec.inputs.size(); ++k) {
      const std::string& ds = spec.inputs[k];
      std::shared_ptr<const Table> table;
      {
        std::lock_guard l(cache_mu);
        auto it = cache.find(ds);
        if (it != cache.end()) table = it->second;
      }
      if (!table) {
        auto read = session.store().Read(ds, rp.input_versions[k]);
        if (!read.ok())
          return read.status().WithContext(
              fmt::format("recipe {}: reading input {}", spec.name, ds));
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
    for (size_t k = 0; k < spec.outputs.size(); ++k) {
      auto staged =
          session.store().Stage(spec.outputs[k], rp.output_versions[k], output->tables[k]);
      if (!staged.ok()) {
        discard();
        return staged.status().WithContext(fmt::format("recipe {}", spec.name));
      }
      bytes_out += staged->bytes;
      rows_out += output->tables[k].num_rows();
      staged_outputs.push_back(std::move(*staged));
    }
    {
      // Commit, unless this attempt was cancelled or timed out meanwhile: the
      // executor may already have finished the task or started another attempt.
      std::lock_guard l(res.mu);
      if (cancel.cancelled()) {
        discard();
        return cancel.AsStatus();
      }
      for (auto& s : res.staged) session.store().Discard(s);
      res.staged = std::move(staged_outputs);
      res.rows_in = rows_in;
      res.rows_out = rows_out;
      res.bytes_out = bytes_out;
      res.metrics = std::move(output->metrics);
      res.out_rows.clear();
      res.out_schemas.clear();
      res.out_lineage.clear();
      for (size_t k = 0; k < spec.outputs.size(); ++k) {
        res.out_rows.push_back(output->tables[k].num_rows());
        res.out_schemas.push_back(SchemaJson(output->tables[k].schema()));
        res.out_lineage.push_back(LineageEdges(
            output->tables[k].schema(),
            k < output->column_lineage.size() ? &output->column_lineage[k] : nullptr, spec.inputs));
      }
    }
    {
      std::lock_guard l(cache_mu);
      for (size_t k = 0; k < spec.outputs.size(); ++k)
        if (readers.count(spec.outputs[k]))
          cache[spec.outputs[k]] = std::make_shared<const Table>(std::move(output->tables[k]));
    }
    ctx.log->Info(fmt::format("{} rows in, {} rows out", rows_in, rows_out));
    return Status::Ok();
  };

  struct Adapter final : ExecObserver {
    std::function<void(int, int)> started;
    std::function<void(int, int, const Status&, double)> retrying;
    std::function<void(int, const TaskOutcome&)> finished;
    void TaskStarted(int t, int a) override { started(t, a); }
    void TaskRetrying(int t, int a, const Status& s, double d) override { retrying(t, a, s, d); }
    void TaskFinished(int t, const TaskOutcome& o) override { finished(t, o); }
  } adapter;
  std::vector<RecipeRunRecord> records(task_plan.size());
  adapter.started = [&](int t, int attempt) {
    if (attempt == 1) results[static_cast<size_t>(t)].started_at = NowIso();
    if (observer) observer->RecipeStarted(g.node(task_plan[static_cast<size_t>(t)]->node), attempt);
  };
  adapter.retrying = [&](int t, int attempt, const Status& why, double delay) {
    const RecipeNode& node = g.node(task_plan[static_cast<size_t>(t)]->node);
    results[static_cast<size_t>(t)].logger->Warn(
        fmt::format("attempt {} failed: {}; retrying in {:.3g}s", attempt, why.message(), delay));
    if (observer) observer->RecipeRetrying(node, attempt, why, delay);
  };
  adapter.finished = [&](int t, const TaskOutcome& o) {
    const auto ti = static_cast<size_t>(t);
    const RecipePlan& rp = *task_plan[ti];
    const RecipeNode& node = g.node(rp.node);
    const RecipeSpec& spec = *node.recipe;
    TaskResult& res = results[ti];
    std::lock_guard res_lock(res.mu);
    RecipeRunRecord& rec = records[ti];
    rec.run_id = run.id;
    rec.uuid = NewUuid();
    for (size_t k = 0; k < spec.inputs.size() && k < rp.input_versions.size(); ++k)
      rec.inputs[spec.inputs[k]] = rp.input_versions[k];
    rec.flow = node.flow->name;
    rec.recipe = spec.name;
    rec.kind = spec.kind;
    rec.status = StatusFor(o.state);
    rec.reason = rp.explanation;
    rec.attempts = o.attempts;
    rec.started_at = res.started_at;
    rec.finished_at = o.attempts > 0 ? NowIso() : "";
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
        v.environment = env;
        v.file = DatasetStore::RelativePath(s.dataset, s.version);
        v.rows = res.out_rows[k];
        v.schema = res.out_schemas[k];
        v.bytes = s.bytes;
        v.run_id = run.id;
        v.flow = node.flow->name;
        v.recipe = spec.name;
        v.created_at = rec.finished_at;
        v.inputs = inputs;
        if (k < res.out_lineage.size()) v.column_lineage = std::move(res.out_lineage[k]);
        item.batch.versions.push_back(std::move(v));
      }
      item.batch.states.emplace_back(node.flow->name, spec.name, std::move(state));
      item.staged = std::move(res.staged);
      ++summary.succeeded;
    } else if (o.state == TaskState::kSkipped) {
      ++summary.skipped;
    } else if (o.state == TaskState::kCancelled) {
      ++summary.cancelled;
    } else {
      ++summary.failed;
      // What a failing kind measured (a check's results) is kept with the failure. Only
      // for a recipe that returned: a timed-out one may still be running.
      if (o.state == TaskState::kFailed) {
        rec.rows_in = res.rows_in;
        if (res.metrics.is_object()) rec.metrics = res.metrics;
      }
    }
    for (auto& s : res.staged) session.store().Discard(s);
    res.staged.clear();
    // Drop in-memory inputs nobody else in this run will read.
    {
      std::lock_guard l(cache_mu);
      for (const auto& in : spec.inputs)
        if (--readers_left[in] <= 0) cache.erase(in);
    }
    item.batch.recipe_runs.push_back(rec);
    publisher.Push(std::move(item));
    if (observer) observer->RecipeFinished(node, rec);
  };

  LocalExecutor executor(options.exec);
  std::vector<TaskOutcome> outcomes = executor.Execute(tasks, run_task, &adapter);
  {
    std::lock_guard l(cache_mu);
    cache.clear();
  }
  Status published = publisher.Close();
  if (!published.ok()) {
    // A recipe whose outputs could not be published failed, whatever it returned; its
    // record is written again on its own (best effort: the catalog may be what failed).
    CatalogBatch again;
    again.environment = env;
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
  }

  summary.plan = std::move(plan);
  summary.recipes = std::move(records);
  if (!published.ok()) {
    run.status = "failed";
    run.error = published.message();
  } else if (summary.failed > 0) {
    run.status = "failed";
    run.error = fmt::format("{} recipe(s) failed", summary.failed);
  } else if (executor.stop_requested() || summary.cancelled > 0) {
    run.status = "cancelled";
    run.error = "stopped by the user";
  } else {
    run.status = "succeeded";
  }
  run.finished_at = NowIso();
  summary.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  ALAMBIC_RETURN_IF_ERROR(
      session.catalog().FinishRun(run.id, run.status, run.finished_at, run.error));
  ALAMBIC_RETURN_IF_ERROR(AuditRun(session, summary));
  if (observer) observer->RunFinished(summary);
  return summary;
}

}  // namespace alambic
