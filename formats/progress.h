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
  // Bytes: "1.20/3.40 GB 250 MB/s". Steps: "12/100 3.1 s/step ETA 4m38s" plus a status text.
  enum class Unit { Bytes, Steps };
  ProgressBar(std::string label, uint64_t total_bytes, bool enabled, Unit unit = Unit::Bytes);
  ~ProgressBar();
  void add(uint64_t bytes);
  void finish();
  // Text drawn after the counts (a training loss), from the next redraw on.
  void set_status(std::string status);
  // True when stderr is a terminal (and CKPT_NO_PROGRESS is unset).
  static bool stderr_is_terminal();

 private:
  void draw(bool final);
  std::string label_;
  std::string status_;
  Unit unit_ = Unit::Bytes;
  uint64_t total_;
  bool enabled_;
  std::atomic<uint64_t> done_{0};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
};

}  // namespace ckpt
