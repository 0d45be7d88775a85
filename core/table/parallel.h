// A tiny fork-join helper for the table operators (group, join, sort): runs
// fn(task) for task in [0, tasks) on up to MaxThreads() threads and returns
// when all are done. Small inputs run inline on the caller's thread, so only
// large tables pay for threads. fn must be safe to call concurrently for
// different tasks.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace alambic {

// Rows from which an operator splits its work over threads.
constexpr int64_t kParallelRowThreshold = 1 << 20;

// Threads used for one operator: the hardware's, at most 8.
inline int MaxThreads() {
  constexpr unsigned kCap = 8;
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(hw, 1u, kCap));
}

template <typename Fn>
void ParallelFor(int64_t tasks, bool parallel, Fn&& fn) {
  const int threads = parallel ? static_cast<int>(std::min<int64_t>(tasks, MaxThreads())) : 1;
  if (threads <= 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) fn(t);
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
}

// Splits [0, rows) into about `chunks` contiguous ranges: range k is
// [ChunkBegin(rows, chunks, k), ChunkBegin(rows, chunks, k + 1)).
inline int64_t ChunkBegin(int64_t rows, int64_t chunks, int64_t k) {
  return rows / chunks * k + std::min(k, rows % chunks);
}

}  // namespace alambic
