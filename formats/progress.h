// A progress bar for long work (GB-sized files): drawn on stderr only when it is a terminal, throttled
// to ~10 redraws a second, erased when done. Thread-safe: workers may call add() concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace ckpt {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total_bytes, bool enabled);
  ~ProgressBar();
  void add(uint64_t bytes);
  void finish();
  // True when stderr is a terminal (and CKPT_NO_PROGRESS is unset).
  static bool stderr_is_terminal();

 private:
  void draw(bool final);
  std::string label_;
  uint64_t total_;
  bool enabled_;
  std::atomic<uint64_t> done_{0};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
};

}  // namespace ckpt
