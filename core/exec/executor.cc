#include "core/exec/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <thread>

#include <fmt/format.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

namespace alambic {

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending:
      return "pending";
    case TaskState::kRunning:
      return "running";
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
  }
  return "?";
}

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

struct LocalExecutor::Impl {
  asio::io_context ctl;           // the coordinating thread's loop
  std::function<void()> on_stop;  // set during Execute, runs on ctl
};

LocalExecutor::LocalExecutor(ExecOptions options)
    : options_(options), impl_(std::make_unique<Impl>()) {
  if (options_.jobs <= 0)
    options_.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

LocalExecutor::~LocalExecutor() = default;

void LocalExecutor::RequestStop() {
  if (stop_.exchange(true)) return;
  asio::post(impl_->ctl, [this] {
    if (impl_->on_stop) impl_->on_stop();
  });
}

namespace {

constexpr std::chrono::milliseconds kStopPollInterval{20};

struct Attempt {
  std::shared_ptr<CancelToken> token;
  std::unique_ptr<asio::steady_timer> timer;
  uint64_t seq = 0;       // which attempt a completion belongs to
  bool resolved = false;  // the attempt's outcome is decided (returned or timed out)
  bool timed_out = false;
};

}  // namespace

std::vector<TaskOutcome> LocalExecutor::Execute(const std::vector<ExecTask>& tasks,
                                                const TaskFn& fn, ExecObserver* observer) {
  const size_t n = tasks.size();
  std::vector<TaskOutcome> out(n);
  if (n == 0) return out;
  asio::io_context& ctl = impl_->ctl;
  ctl.restart();
  asio::thread_pool pool(static_cast<size_t>(options_.jobs));
  auto guard = asio::make_work_guard(ctl);

  std::vector<int> waiting(n, 0);
  std::vector<std::vector<int>> dependents(n);
  for (size_t i = 0; i < n; ++i)
    for (int d : tasks[i].deps) {
      ++waiting[i];
      dependents[static_cast<size_t>(d)].push_back(static_cast<int>(i));
    }
  std::deque<int> ready;
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0) ready.push_back(static_cast<int>(i));

  std::vector<Attempt> attempts(n);
  std::vector<SteadyClock::time_point> first_start(n);
  size_t finished = 0;
  int running = 0;
  bool failed = false;
  std::vector<std::unique_ptr<asio::steady_timer>> retry_timers;

  // Ctrl-C and SIGTERM request a stop; cancelled once nothing more will start,
  // since a pending wait would keep the loop alive.
  std::unique_ptr<asio::signal_set> signals;
  // options_.stop is polled: a stop requested from outside (a daemon's
  // shutdown, a run timeout) stops the run like a signal.
  std::unique_ptr<asio::steady_timer> stop_poll;
  std::function<void()> poll_stop;
  bool stop_poll_done = false;
  std::function<void()> pump;
  std::function<void(int)> launch;
  std::function<void(int, uint64_t, Status)> on_attempt_done;

  auto finish = [&](int t, TaskState state, Status st) {
    auto& o = out[static_cast<size_t>(t)];
    o.state = state;
    o.status = std::move(st);
    o.seconds =
        std::chrono::duration<double>(SteadyClock::now() - first_start[static_cast<size_t>(t)])
            .count();
    ++finished;
    if (observer) observer->TaskFinished(t, o);
    if (state == TaskState::kSucceeded) {
      for (int d : dependents[static_cast<size_t>(t)])
        if (--waiting[static_cast<size_t>(d)] == 0) ready.push_back(d);
    } else {
      if (state != TaskState::kCancelled && state != TaskState::kSkipped) failed = true;
      // Everything downstream can never run.
      std::vector<int> stack(dependents[static_cast<size_t>(t)]);
      while (!stack.empty()) {
        int d = stack.back();
        stack.pop_back();
        auto& od = out[static_cast<size_t>(d)];
        if (od.state != TaskState::kPending) continue;
        od.state = TaskState::kSkipped;
        od.status = Status::Cancelled(fmt::format("skipped: upstream task did not succeed"));
        ++finished;
        if (observer) observer->TaskFinished(d, od);
        for (int dd : dependents[static_cast<size_t>(d)]) stack.push_back(dd);
      }
    }
  };

  // Called once per attempt: when its function returns, or when its time limit
  // passes (a late return of a timed-out attempt is then ignored).
  on_attempt_done = [&](int t, uint64_t seq, Status st) {
    const auto ti = static_cast<size_t>(t);
    Attempt& a = attempts[ti];
    if (a.seq != seq || a.resolved) return;
    a.resolved = true;
    if (a.timer) a.timer->cancel();
    --running;
    const ExecTask& task = tasks[ti];
    TaskOutcome& o = out[ti];
    if (a.timed_out)
      st = Status::TimedOut(fmt::format("timed out after {}s", task.timeout_seconds));
    if (st.ok()) {
      finish(t, TaskState::kSucceeded, Status::Ok());
    } else if (stop_.load() && !a.timed_out) {
      finish(t, TaskState::kCancelled, Status::Cancelled("cancelled"));
    } else if (o.attempts <= task.retries && !stop_.load()) {
      double delay = task.retry_backoff_seconds * std::pow(2.0, o.attempts - 1);
      if (observer) observer->TaskRetrying(t, o.attempts, st, delay);
      o.state = TaskState::kPending;
      auto timer = std::make_unique<asio::steady_timer>(ctl);
      timer->expires_after(
          std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(delay)));
      ++running;  // a retry waiting counts as running, so the loop does not end
      timer->async_wait([&, t](const boost::system::error_code&) {
        --running;
        if (stop_.load()) {
          finish(t, TaskState::kCancelled, Status::Cancelled("cancelled before retry"));
        } else {
          launch(t);
        }
        pump();
      });
      retry_timers.push_back(std::move(timer));
    } else {
      finish(t, a.timed_out ? TaskState::kTimedOut : TaskState::kFailed, st);
    }
    pump();
  };

  launch = [&](int t) {
    const auto ti = static_cast<size_t>(t);
    TaskOutcome& o = out[ti];
    if (o.attempts == 0) first_start[ti] = SteadyClock::now();
    ++o.attempts;
    o.state = TaskState::kRunning;
    ++running;
    Attempt& a = attempts[ti];
    a.token = std::make_shared<CancelToken>();
    a.timed_out = false;
    a.resolved = false;
    const uint64_t seq = ++a.seq;
    a.timer.reset();
    if (tasks[ti].timeout_seconds > 0) {
      a.timer = std::make_unique<asio::steady_timer>(ctl);
      a.timer->expires_after(std::chrono::duration_cast<SteadyClock::duration>(
          std::chrono::duration<double>(tasks[ti].timeout_seconds)));
      a.timer->async_wait([&, t, seq](const boost::system::error_code& ec) {
        Attempt& at = attempts[static_cast<size_t>(t)];
        if (ec || at.seq != seq || at.resolved) return;
        at.timed_out = true;
        at.token->Cancel(StatusCode::kTimedOut);
        on_attempt_done(t, seq, Status::TimedOut("timed out"));
      });
    }
    if (observer) observer->TaskStarted(t, o.attempts);
    auto token = a.token;
    const int attempt = o.attempts;
    asio::post(pool, [&, t, token, attempt, seq] {
      Status st;
      try {
        st = fn(t, attempt, *token);
      } catch (const std::exception& e) {
        st = Status::Failed(fmt::format("unexpected error: {}", e.what()));
      } catch (...) {
        st = Status::Failed("unexpected error");
      }
      asio::post(ctl, [&, t, seq, st] { on_attempt_done(t, seq, st); });
    });
  };

  pump = [&] {
    while (!ready.empty() && running < options_.jobs && !stop_.load() &&
           !(failed && !options_.keep_going)) {
      int t = ready.front();
      ready.pop_front();
      launch(t);
    }
    if (running == 0 &&
        (finished == n || ready.empty() || stop_.load() || (failed && !options_.keep_going))) {
      // Nothing more will start: what is left pending is skipped.
      for (size_t i = 0; i < n; ++i)
        if (out[i].state == TaskState::kPending) {
          out[i].state = TaskState::kSkipped;
          out[i].status = Status::Cancelled(stop_.load() ? "not started: the run was stopped"
                                                         : "not started: an earlier recipe failed");
          ++finished;
          if (observer) observer->TaskFinished(static_cast<int>(i), out[i]);
        }
      guard.reset();
      if (signals) signals->cancel();
      stop_poll_done = true;
      if (stop_poll) stop_poll->cancel();
    }
  };

  impl_->on_stop = [&] {
    for (size_t i = 0; i < n; ++i)
      if (out[i].state == TaskState::kRunning && attempts[i].token) attempts[i].token->Cancel();
    for (auto& timer : retry_timers) timer->cancel();
    pump();
  };

  if (options_.handle_signals) {
    signals = std::make_unique<asio::signal_set>(ctl, SIGINT, SIGTERM);
    signals->async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) RequestStop();
    });
  }
  if (options_.stop) {
    stop_poll = std::make_unique<asio::steady_timer>(ctl);
    poll_stop = [&] {
      if (stop_poll_done) return;
      if (options_.stop->cancelled()) {
        RequestStop();
        return;
      }
      stop_poll->expires_after(kStopPollInterval);
      stop_poll->async_wait([&](const boost::system::error_code& ec) {
        if (!ec) poll_stop();
      });
    };
    poll_stop();
  }
  if (stop_.load()) impl_->on_stop();
  asio::post(ctl, [&] { pump(); });
  ctl.run();
  if (signals) signals->cancel();
  pool.join();
  ctl.restart();
  ctl.poll();  // drain completions of tasks that returned after the end (timed out ones)
  impl_->on_stop = nullptr;
  return out;
}

}  // namespace alambic
