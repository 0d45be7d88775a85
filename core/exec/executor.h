// Executors: what runs the recipes of a planned run. The runner (run.h) plans,
// hands the recipes to run to an Executor as a DAG of tasks, then records and
// publishes what each task produced. `Executor` is the seam: LocalExecutor runs
// the tasks on a Boost.Asio thread pool in this process (concurrency limit,
// per-task timeout, retries with exponential backoff, fail-fast or keep-going,
// cancellation by Ctrl-C); another implementation (a Slurm executor, a fake in
// tests) decides where and when each task runs.
//
// An executor knows nothing of recipes: a task is an index, a name (for
// display and for executors that dispatch by name), its dependencies and a
// policy; the work of one attempt is a function called with a cancellation
// token. Events go to an ExecObserver, called on the coordinating thread (the
// one that called Execute()), never concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/recipe/recipe.h"

namespace alambic {

struct ExecTask {
  std::vector<int> deps;             // indices of tasks that must succeed first
  double timeout_seconds = 0;        // per attempt; 0: none
  int retries = 0;                   // extra attempts after a failure or timeout
  double retry_backoff_seconds = 1;  // delay before the first retry, doubled each time
  std::string name;                  // what the task is, e.g. "flow/recipe"
};

enum class TaskState { kPending, kRunning, kSucceeded, kFailed, kTimedOut, kCancelled, kSkipped };
const char* TaskStateName(TaskState s);

struct TaskOutcome {
  TaskState state = TaskState::kPending;
  Status status;  // the last attempt's error
  int attempts = 0;
  double seconds = 0;  // wall time of all attempts, retries' waits included
};

class ExecObserver {
 public:
  virtual ~ExecObserver() = default;
  virtual void TaskStarted(int /*task*/, int /*attempt*/) {}
  virtual void TaskRetrying(int /*task*/, int /*attempt*/, const Status& /*why*/,
                            double /*delay*/) {}
  virtual void TaskFinished(int /*task*/, const TaskOutcome& /*outcome*/) {}
};

// Runs one attempt of a task. Must return promptly once `cancel` is set
// (returning cancel.AsStatus() or any error).
using TaskFn = std::function<Status(int task, int attempt, const CancelToken& cancel)>;

struct ExecOptions {
  int jobs = 0;                 // 0: number of cores
  bool keep_going = false;      // false: after a failure, launch nothing new (running tasks finish)
  bool handle_signals = false;  // SIGINT/SIGTERM request a stop
  // When set (borrowed; outlives Execute), its cancellation requests a stop.
  const CancelToken* stop = nullptr;
};

// Runs a DAG of tasks. The contract every implementation keeps (the runner
// relies on it):
// - a task starts only after each of its deps ended kSucceeded; a task whose
//   dependency did not succeed ends kSkipped, never run;
// - `fn` may run several attempts of different tasks at once, on any thread;
// - observer events come on the thread that called Execute(), one at a time,
//   TaskFinished exactly once per task;
// - after RequestStop() nothing new starts, running attempts are cancelled
//   (their token is set; they end kCancelled) and pending tasks end kSkipped;
// - Execute() returns one outcome per task, once every task has ended.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::vector<TaskOutcome> Execute(const std::vector<ExecTask>& tasks, const TaskFn& fn,
                                           ExecObserver* observer = nullptr) = 0;
  // Thread-safe: stops launching and cancels running tasks.
  virtual void RequestStop() = 0;
  virtual bool stop_requested() const = 0;
};

// The executor of this process: a thread pool of options.jobs threads.
class LocalExecutor final : public Executor {
 public:
  explicit LocalExecutor(ExecOptions options);
  ~LocalExecutor() override;
  LocalExecutor(const LocalExecutor&) = delete;
  LocalExecutor& operator=(const LocalExecutor&) = delete;

  // Keeps the Executor contract; with options.keep_going false, a failure
  // launches nothing new (running tasks finish) and the rest end kSkipped.
  std::vector<TaskOutcome> Execute(const std::vector<ExecTask>& tasks, const TaskFn& fn,
                                   ExecObserver* observer = nullptr) override;

  // Thread-safe and async-signal-tolerant: stops launching and cancels running tasks.
  void RequestStop() override;
  bool stop_requested() const override { return stop_.load(); }

 private:
  struct Impl;
  ExecOptions options_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace alambic
