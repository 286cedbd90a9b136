// A fixed set of worker threads for the forward pass. Decode runs dozens of small matmuls per token,
// so workers spin briefly on a generation counter before sleeping: waking a thread through the OS for
// every matmul would cost more than the matmul.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ckpt::runtime {

class ThreadPool {
 public:
  explicit ThreadPool(unsigned n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }
  // Runs fn(thread_index) once on every thread (the caller is thread 0) and returns when all finished.
  void run(const std::function<void(unsigned)>& fn);

 private:
  void worker_loop(unsigned index);

  std::vector<std::thread> workers_;
  const std::function<void(unsigned)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<unsigned> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<unsigned> sleeping_{0};
};

}  // namespace ckpt::runtime
