// A progress bar for long work (GB-sized files) on stderr. On a terminal: one redrawn line sized to the
// terminal's width (elapsed, ETA, throughput), ~10 redraws a second, erased when done; with TERM=dumb or
// off a terminal (--progress always): plain lines, one every 5 s or 10 % at most. Thread-safe: workers
// may call add() concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace ckpt {

// --progress auto (a terminal and CKPT_NO_PROGRESS unset), always, never; set once by the CLI.
enum class ProgressMode { Auto, Always, Never };
void set_progress_mode(ProgressMode mode);
// Whether a command should show progress under the mode in force.
bool progress_wanted();

class ProgressBar {
 public:
  // Bytes: "1.20/3.40 GB 250 MB/s". Steps: "12/100 3.1 s/step ETA 4m38s" plus a status text.
  enum class Unit { Bytes, Steps };
  ProgressBar(std::string label, uint64_t total_bytes, bool enabled, Unit unit = Unit::Bytes);
  ~ProgressBar();
  void add(uint64_t bytes);
  void finish();
  // Text drawn after the counts (a training loss, the tensor being written), from the next redraw on.
  // Control characters are escaped (tensor names come from untrusted files).
  void set_status(std::string status);
  // True when stderr is a terminal (and CKPT_NO_PROGRESS is unset).
  static bool stderr_is_terminal();

 private:
  void draw(bool final);
  bool plain_ = false;  // TERM=dumb or not a terminal: whole lines, no redrawing
  int last_tenth_ = -1;
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
