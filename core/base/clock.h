// The clock seam: what "now" is. Production code asks a Clock, never
// std::chrono::system_clock directly, so that tests can move time by hand
// (ManualClock) instead of sleeping.
//
// Thread-safety: both implementations may be shared between threads.
#pragma once

#include <atomic>
#include <chrono>

namespace alambic {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() = 0;
};

// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() override { return std::chrono::system_clock::now(); }
};

// A clock that only moves when told to (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start = {}) : now_(start) {}
  std::chrono::system_clock::time_point Now() override { return now_.load(); }
  void Set(std::chrono::system_clock::time_point t) { now_.store(t); }
  void Advance(std::chrono::system_clock::duration d) { now_.store(now_.load() + d); }

 private:
  std::atomic<std::chrono::system_clock::time_point> now_;
};

}  // namespace alambic
