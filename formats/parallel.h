// A minimal parallel-for: splits [0, n) into `threads` contiguous ranges, runs them on std::threads
// and rethrows the first exception. Conversion work is coarse (rows of a tensor), so spawning per call
// costs nothing measurable next to the work.
#pragma once

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ckpt {

inline unsigned default_thread_count() { return std::max(1u, std::thread::hardware_concurrency()); }

// Threads to use for a request (0: all cores). More threads than cores only adds switching (a
// 100,000-thread request made a run 40x slower or aborted), so requests are capped at the core count.
inline unsigned bounded_thread_count(unsigned requested) {
  const unsigned cores = default_thread_count();
  return requested == 0 ? cores : std::min(requested, cores);
}

inline void parallel_for(size_t n, unsigned threads, const std::function<void(size_t begin, size_t end)>& fn) {
  threads = static_cast<unsigned>(std::min<size_t>(std::max(1u, threads), std::max<size_t>(n, 1)));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> pool;
  const size_t chunk = (n + threads - 1) / threads;
  for (unsigned t = 0; t < threads; ++t) {
    const size_t begin = t * chunk, end = std::min(n, begin + chunk);
    if (begin >= end) break;
    pool.emplace_back([&, begin, end] {
      try {
        fn(begin, end);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

// fn(i) for every i in [0, n), each thread claiming the next index as it finishes one: for items of
// very uneven cost (whole tensors), where contiguous ranges would leave threads idle. Rethrows the
// first exception once every thread has stopped (the others stop claiming new items).
inline void parallel_each(size_t n, unsigned threads, const std::function<void(size_t i)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (size_t i; !failed.load() && (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  const unsigned count = static_cast<unsigned>(std::min<size_t>(std::max(1u, threads), std::max<size_t>(n, 1)));
  for (unsigned k = 1; k < count; ++k) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace ckpt
