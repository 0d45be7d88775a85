// Running flows: plan, execute the stale recipes on an executor (the local
// thread pool by default), publish each output version (store, then catalog, in
// group commits) and record the run. The parts are in run.cc (planning,
// executing, recording), publisher.h (publishing) and run_record.h (what is
// recorded besides the outputs).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "core/base/clock.h"
#include "core/exec/executor.h"
#include "core/exec/job_launcher.h"
#include "core/exec/session.h"
#include "core/plan/plan.h"

namespace alambic {

struct RunOptions {
  PlanOptions plan;
  ExecOptions exec;  // for the local executor (when `executor` is null)
  // What runs the recipes; null: the environment's executor (`executor` of
  // alambic.yaml, or `executor_kind`) made with `exec`. Not owned.
  Executor* executor = nullptr;
  // With `executor`: runs each recipe attempt as a job (the Slurm executor is
  // both); each attempt is then a task spec (task_spec.h) that a job runs with
  // `alambic exec-task`, and the run publishes what the job staged. Not owned.
  JobLauncher* launcher = nullptr;
  // "local" or "slurm" overrides the environment's executor ("": as configured).
  std::string executor_kind;
  // The binary a job runs (`alambic exec-task SPEC`); "": this process's.
  std::filesystem::path job_binary;
  // Where the run's and recipe runs' timestamps come from; null: the system
  // clock. Not owned.
  Clock* clock = nullptr;
  std::string trigger = "manual";
  std::string user;     // "" : the current user (Actor::Current)
  std::string release;  // the release being run, as "permis/3" ("" for the working tree)
  std::string
      run_id;  // the run's id, chosen by the caller (a scheduler records it first); "": a new UUID
  // While another run or gc holds the workspace's lock: false, fail at once (the CLI, the
  // web API); true, wait for it (the scheduler's runs: a slot waits for a manual run), until
  // exec.stop is cancelled. `lock_waiting` is told once when the wait begins.
  bool wait_for_lock = false;
  std::function<void(const std::string&)> lock_waiting;
};

struct RunSummary {
  RunRecord run;
  Plan plan;
  std::vector<RecipeRunRecord> recipes;  // every recipe that ran or was due to run, in plan order
  int succeeded = 0, failed = 0, cancelled = 0, skipped = 0, up_to_date = 0;
  double seconds = 0;
};

// Observes a run. Methods may be called from any executor thread at once;
// implementations synchronise themselves.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void RunStarted(const RunRecord& /*run*/, const Plan& /*plan*/) {}
  virtual void RecipeStarted(const RecipeNode& /*node*/, int /*attempt*/) {}
  virtual void RecipeProgress(const RecipeNode& /*node*/, int64_t /*rows*/) {}
  virtual void RecipeLog(const RecipeNode& /*node*/, LogLevel /*level*/,
                         const std::string& /*line*/) {}
  virtual void RecipeRetrying(const RecipeNode& /*node*/, int /*attempt*/, const Status& /*why*/,
                              double /*delay*/) {}
  virtual void RecipeFinished(const RecipeNode& /*node*/, const RecipeRunRecord& /*record*/) {}
  virtual void RunFinished(const RunSummary& /*summary*/) {}
};

// An exclusive lock on the state directory itself, held for the lifetime of the object:
// one run (or gc) at a time per workspace. Acquire() fails at once when held.
class WorkspaceLock {
 public:
  static Result<std::unique_ptr<WorkspaceLock>> Acquire(const std::filesystem::path& state_dir);
  // Waits while another holds it, polling, until `cancel` (if any) is cancelled: then
  // its status (cancelled or timed out), with what it was waiting for. `waiting` is
  // called once, when the lock is first found held.
  static Result<std::unique_ptr<WorkspaceLock>> AcquireWaiting(
      const std::filesystem::path& state_dir, const CancelToken* cancel,
      const std::function<void(const std::string&)>& waiting);
  ~WorkspaceLock();
  WorkspaceLock(const WorkspaceLock&) = delete;
  WorkspaceLock& operator=(const WorkspaceLock&) = delete;

 private:
  explicit WorkspaceLock(int fd) : fd_(fd) {}
  int fd_;
};

// Runs the selected flows of `session`. Only one run at a time per workspace
// (an exclusive lock on .alambic/lock). Returns the summary even when recipes
// failed (run.status says so); a non-ok Result means the run could not start
// or its bookkeeping failed.
//
// Records in the catalog: the run, a recipe run per recipe that ran or was due
// to (with the versions it published) and per up-to-date recipe (status
// up_to_date, attempts 0, the versions it found current, and the metrics of the
// recipe run that built them). Appends to the audit log one "secret.use" entry
// per secret ("secret:NAME" anywhere in the params) of the recipes to run, when
// the run starts (names only, never values), and one "run" entry when it ends.
Result<RunSummary> RunFlows(Session& session, const RunOptions& options,
                            RunObserver* observer = nullptr);

}  // namespace alambic
