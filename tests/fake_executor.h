// A fake Executor for engine tests: runs the tasks one at a time on the
// calling thread, records what it was asked to run and in which order, can
// fail a task by name without running it, request a stop while a task runs (as
// Ctrl-C would), and move a ManualClock by a fixed step per task, so that runs
// have known timestamps without sleeping. A task it does not fail runs the
// runner's real work (the recipe's kind, reading and staging real tables).
//
// It keeps the Executor contract (executor.h), and chooses, among the tasks
// whose dependencies succeeded, the one given LAST: only the dependencies the
// runner declared keep a recipe after its inputs (plan order alone would not).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/base/clock.h"
#include "core/exec/executor.h"

namespace alambic::testing {

class FakeExecutor final : public Executor {
 public:
  // The task named `name` ("flow/recipe") fails with `why`; its work is not run.
  void FailTask(const std::string& name, Status why) { fail_[name] = std::move(why); }
  // While the task named `name` runs, a stop is requested: its attempt runs
  // with its cancellation token set, and nothing starts after it.
  void StopDuring(const std::string& name) { stop_during_ = name; }
  // false (default): after a failure nothing new starts.
  void set_keep_going(bool keep_going) { keep_going_ = keep_going; }
  // Each task's attempt moves `clock` by `step`, which is also its duration.
  void AdvanceClock(ManualClock* clock, std::chrono::milliseconds step) {
    clock_ = clock;
    step_ = step;
  }

  // The tasks of the last Execute(), as given.
  const std::vector<ExecTask>& tasks() const { return tasks_; }
  // The names of the tasks started, over every Execute(), in order.
  const std::vector<std::string>& started() const { return started_; }
  int executions() const { return executions_; }

  std::vector<TaskOutcome> Execute(const std::vector<ExecTask>& tasks, const TaskFn& fn,
                                   ExecObserver* observer = nullptr) override {
    ++executions_;
    tasks_ = tasks;
    const size_t n = tasks.size();
    std::vector<TaskOutcome> out(n);
    bool failed = false;
    auto finish = [&](size_t t, TaskState state, Status st) {
      out[t].state = state;
      out[t].status = std::move(st);
      if (observer) observer->TaskFinished(static_cast<int>(t), out[t]);
    };
    for (;;) {
      // Tasks downstream of one that did not succeed are skipped.
      for (bool changed = true; changed;) {
        changed = false;
        for (size_t t = 0; t < n; ++t) {
          if (out[t].state != TaskState::kPending) continue;
          for (int d : tasks[t].deps) {
            const TaskState ds = out[static_cast<size_t>(d)].state;
            if (ds != TaskState::kPending && ds != TaskState::kSucceeded) {
              finish(t, TaskState::kSkipped,
                     Status::Cancelled("skipped: upstream task did not succeed"));
              changed = true;
              break;
            }
          }
        }
      }
      if (stop_ || (failed && !keep_going_)) break;
      int next = -1;
      for (size_t i = n; i-- > 0;) {
        if (out[i].state != TaskState::kPending) continue;
        bool ready = true;
        for (int d : tasks[i].deps)
          ready = ready && out[static_cast<size_t>(d)].state == TaskState::kSucceeded;
        if (ready) {
          next = static_cast<int>(i);
          break;
        }
      }
      if (next < 0) break;
      const auto t = static_cast<size_t>(next);
      TaskOutcome& o = out[t];
      o.attempts = 1;
      o.state = TaskState::kRunning;
      if (observer) observer->TaskStarted(next, 1);
      started_.push_back(tasks[t].name);
      CancelToken token;
      if (tasks[t].name == stop_during_) {
        stop_ = true;
        token.Cancel();
      }
      Status st;
      if (auto it = fail_.find(tasks[t].name); it != fail_.end())
        st = it->second;
      else
        st = fn(next, 1, token);
      if (clock_) clock_->Advance(step_);
      o.seconds = std::chrono::duration<double>(step_).count();
      if (st.ok()) {
        finish(t, TaskState::kSucceeded, Status::Ok());
      } else if (stop_) {
        finish(t, TaskState::kCancelled, Status::Cancelled("cancelled"));
      } else {
        failed = true;
        finish(t, TaskState::kFailed, st);
      }
    }
    for (size_t t = 0; t < n; ++t)
      if (out[t].state == TaskState::kPending)
        finish(t, TaskState::kSkipped,
               Status::Cancelled(stop_ ? "not started: the run was stopped"
                                       : "not started: an earlier recipe failed"));
    return out;
  }

  void RequestStop() override { stop_ = true; }
  bool stop_requested() const override { return stop_; }

 private:
  std::map<std::string, Status> fail_;
  std::string stop_during_;
  bool keep_going_ = false;
  ManualClock* clock_ = nullptr;
  std::chrono::milliseconds step_{0};
  std::vector<ExecTask> tasks_;
  std::vector<std::string> started_;
  int executions_ = 0;
  std::atomic<bool> stop_{false};
};

}  // namespace alambic::testing
