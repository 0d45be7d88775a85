// Cooperative cancellation, shared by the executor, the recipes and the
// readers of core/table: set on Ctrl-C, fail-fast or timeout, polled by long
// loops.
#pragma once

#include <atomic>

#include "core/base/status.h"

namespace alambic {

// Cooperative cancellation: set by the executor on Ctrl-C, fail-fast or timeout.
class CancelToken {
 public:
  void Cancel(StatusCode why = StatusCode::kCancelled) {
    reason_.store(why);
    cancelled_.store(true, std::memory_order_release);
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // kCancelled or kTimedOut once cancelled.
  StatusCode reason() const { return reason_.load(); }
  // A Status to return from a recipe that noticed cancellation.
  Status AsStatus() const {
    return reason() == StatusCode::kTimedOut ? Status::TimedOut("timed out")
                                             : Status::Cancelled("cancelled");
  }

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<StatusCode> reason_{StatusCode::kCancelled};
};

}  // namespace alambic
