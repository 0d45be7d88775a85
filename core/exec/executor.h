// The local executor: runs a DAG of tasks on a Boost.Asio thread pool with a
// concurrency limit, per-task timeout, retries with exponential backoff,
// fail-fast or keep-going, and cancellation (Ctrl-C).
//
// The executor knows nothing of recipes: a task is an id, its dependencies and
// a policy; the work is a function called on a pool thread with a cancellation
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

class LocalExecutor {
 public:
  explicit LocalExecutor(ExecOptions options);
  ~LocalExecutor();
  LocalExecutor(const LocalExecutor&) = delete;
  LocalExecutor& operator=(const LocalExecutor&) = delete;

  // Runs every task once its dependencies succeeded. Tasks whose dependency did
  // not succeed end kSkipped; after a stop request, running tasks are cancelled
  // (kCancelled) and pending ones end kSkipped. Returns one outcome per task.
  std::vector<TaskOutcome> Execute(const std::vector<ExecTask>& tasks, const TaskFn& fn,
                                   ExecObserver* observer = nullptr);

  // Thread-safe and async-signal-tolerant: stops launching and cancels running tasks.
  void RequestStop();
  bool stop_requested() const { return stop_.load(); }

 private:
  struct Impl;
  ExecOptions options_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<Impl> impl_;
};

}  // namespace alambic
