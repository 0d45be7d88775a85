#include "core/exec/executor.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

namespace alambic::executor_test {
namespace {

using namespace std::chrono_literals;

// Sleeps in small steps, returning early when cancelled.
Status SleepCancellable(std::chrono::milliseconds d, const CancelToken& c) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
    if (c.cancelled()) return c.AsStatus();
    std::this_thread::sleep_for(1ms);
  }
  return Status::Ok();
}

struct RecordingObserver : ExecObserver {
  std::vector<std::pair<int, int>> started;  // task, attempt
  std::vector<int> retried;
  void TaskStarted(int t, int a) override { started.emplace_back(t, a); }
  void TaskRetrying(int t, int, const Status&, double) override { retried.push_back(t); }
};

TEST(LocalExecutorTest, RunsDependenciesFirst) {
  // 0 -> 1 -> 3, 0 -> 2 -> 3
  std::vector<ExecTask> tasks(4);
  tasks[1].deps = {0};
  tasks[2].deps = {0};
  tasks[3].deps = {1, 2};
  std::mutex mu;
  std::vector<int> order;
  LocalExecutor ex({.jobs = 2});
  auto out = ex.Execute(tasks, [&](int t, int, const CancelToken&) {
    std::lock_guard l(mu);
    order.push_back(t);
    return Status::Ok();
  });
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order.front(), 0);
  EXPECT_EQ(order.back(), 3);
  for (const auto& o : out) EXPECT_EQ(o.state, TaskState::kSucceeded);
}

TEST(LocalExecutorTest, RespectsJobLimitAndRunsInParallel) {
  std::vector<ExecTask> tasks(8);
  std::atomic<int> now{0}, peak{0};
  LocalExecutor ex({.jobs = 3});
  auto start = std::chrono::steady_clock::now();
  ex.Execute(tasks, [&](int, int, const CancelToken& c) {
    int v = ++now;
    int p = peak.load();
    while (v > p && !peak.compare_exchange_weak(p, v)) {
    }
    Status st = SleepCancellable(50ms, c);
    --now;
    return st;
  });
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(peak.load(), 3);
  // 8 tasks of 50 ms on 3 slots need 3 waves, far less than 8 sequential ones.
  EXPECT_LT(elapsed, 350ms);
}

TEST(LocalExecutorTest, TimeoutCancelsAttemptAndRetriesWithBackoff) {
  std::vector<ExecTask> tasks(1);
  tasks[0].timeout_seconds = 0.05;
  tasks[0].retries = 2;
  tasks[0].retry_backoff_seconds = 0.01;
  std::atomic<int> calls{0};
  RecordingObserver obs;
  LocalExecutor ex({.jobs = 2});
  auto out = ex.Execute(
      tasks,
      [&](int, int attempt, const CancelToken& c) {
        ++calls;
        if (attempt < 3) return SleepCancellable(5000ms, c);  // hangs until the timeout
        return Status::Ok();
      },
      &obs);
  EXPECT_EQ(out[0].state, TaskState::kSucceeded);
  EXPECT_EQ(out[0].attempts, 3);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(obs.retried.size(), 2u);
  EXPECT_LT(out[0].seconds, 2.0);
}

TEST(LocalExecutorTest, TimeoutWithoutRetriesEndsTimedOut) {
  std::vector<ExecTask> tasks(2);
  tasks[0].timeout_seconds = 0.05;
  tasks[1].deps = {0};
  LocalExecutor ex({.jobs = 1});
  auto out = ex.Execute(
      tasks, [&](int, int, const CancelToken& c) { return SleepCancellable(5000ms, c); });
  EXPECT_EQ(out[0].state, TaskState::kTimedOut);
  EXPECT_EQ(out[0].status.message(), "timed out after 0.05s");
  EXPECT_EQ(out[1].state, TaskState::kSkipped);
}

TEST(LocalExecutorTest, FailFastLaunchesNothingNewButLetsRunningFinish) {
  // Task 0 fails quickly; 1 is running (slow, independent); 2..5 are waiting for a slot.
  std::vector<ExecTask> tasks(6);
  std::atomic<int> started{0};
  LocalExecutor ex({.jobs = 2});
  auto out = ex.Execute(tasks, [&](int t, int, const CancelToken& c) {
    ++started;
    if (t == 0) return Status::Failed("boom");
    return SleepCancellable(100ms, c);
  });
  EXPECT_EQ(out[0].state, TaskState::kFailed);
  EXPECT_EQ(out[0].status.message(), "boom");
  EXPECT_EQ(out[1].state, TaskState::kSucceeded);
  for (int t = 2; t < 6; ++t)
    EXPECT_EQ(out[static_cast<size_t>(t)].state, TaskState::kSkipped) << t;
  EXPECT_EQ(started.load(), 2);
}

TEST(LocalExecutorTest, KeepGoingRunsEverythingIndependentOfTheFailure) {
  std::vector<ExecTask> tasks(5);
  tasks[1].deps = {0};  // downstream of the failure
  LocalExecutor ex({.jobs = 2, .keep_going = true});
  auto out = ex.Execute(tasks, [&](int t, int, const CancelToken&) {
    return t == 0 ? Status::Failed("boom") : Status::Ok();
  });
  EXPECT_EQ(out[0].state, TaskState::kFailed);
  EXPECT_EQ(out[1].state, TaskState::kSkipped);
  EXPECT_EQ(out[2].state, TaskState::kSucceeded);
  EXPECT_EQ(out[3].state, TaskState::kSucceeded);
  EXPECT_EQ(out[4].state, TaskState::kSucceeded);
}

TEST(LocalExecutorTest, StopCancelsRunningAndStartsNothingMore) {
  std::vector<ExecTask> tasks(5);
  tasks[2].deps = {0};
  std::atomic<int> started{0};
  LocalExecutor ex({.jobs = 2});
  std::thread stopper([&] {
    while (started.load() < 2) std::this_thread::sleep_for(1ms);
    ex.RequestStop();
  });
  auto begin = std::chrono::steady_clock::now();
  auto out = ex.Execute(tasks, [&](int, int, const CancelToken& c) {
    ++started;
    return SleepCancellable(10000ms, c);
  });
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 3000ms);
  EXPECT_EQ(out[0].state, TaskState::kCancelled);
  EXPECT_EQ(out[1].state, TaskState::kCancelled);
  for (int t = 2; t < 5; ++t) EXPECT_EQ(out[static_cast<size_t>(t)].state, TaskState::kSkipped);
  EXPECT_EQ(started.load(), 2);
}

TEST(LocalExecutorTest, SigintStopsTheRun) {
  std::vector<ExecTask> tasks(3);
  std::atomic<int> started{0};
  LocalExecutor ex({.jobs = 1, .handle_signals = true});
  std::thread killer([&] {
    while (started.load() < 1) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    ::kill(::getpid(), SIGINT);
  });
  auto out = ex.Execute(tasks, [&](int, int, const CancelToken& c) {
    ++started;
    return SleepCancellable(10000ms, c);
  });
  killer.join();
  EXPECT_TRUE(ex.stop_requested());
  EXPECT_EQ(out[0].state, TaskState::kCancelled);
  EXPECT_EQ(out[1].state, TaskState::kSkipped);
}

TEST(LocalExecutorTest, WatchingForSignalsDoesNotKeepAFinishedRunAlive) {
  std::vector<ExecTask> tasks(2);
  tasks[1].deps = {0};
  LocalExecutor ex({.jobs = 2, .handle_signals = true});
  std::atomic<bool> returned{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 500 && !returned.load(); ++i) std::this_thread::sleep_for(10ms);
    if (!returned.load()) ex.RequestStop();  // unblocks a hung Execute so the test can fail
  });
  auto out = ex.Execute(tasks, [](int, int, const CancelToken&) { return Status::Ok(); });
  returned = true;
  watchdog.join();
  EXPECT_FALSE(ex.stop_requested());
  EXPECT_EQ(out[0].state, TaskState::kSucceeded);
  EXPECT_EQ(out[1].state, TaskState::kSucceeded);
}

TEST(LocalExecutorTest, ExceptionInTaskBecomesFailure) {
  std::vector<ExecTask> tasks(1);
  LocalExecutor ex({.jobs = 1});
  auto out = ex.Execute(
      tasks, [&](int, int, const CancelToken&) -> Status { throw std::runtime_error("bad"); });
  EXPECT_EQ(out[0].state, TaskState::kFailed);
  EXPECT_EQ(out[0].status.message(), "unexpected error: bad");
}

}  // namespace
}  // namespace alambic::executor_test
