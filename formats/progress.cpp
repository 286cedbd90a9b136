#include "formats/progress.h"
#include "formats/error.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>

#include <cstdio>
#include <cstdlib>

namespace ckpt {

namespace {
std::atomic<ProgressMode> g_mode{ProgressMode::Auto};

bool dumb_terminal() {
  const char* term = std::getenv("TERM");
  return term && std::string(term) == "dumb";
}

// Columns of the terminal on stderr (COLUMNS, else 80, when it cannot say).
size_t terminal_width() {
  winsize w{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    const long n = std::strtol(c, nullptr, 10);
    if (n > 0) return static_cast<size_t>(n);
  }
  return 80;
}

std::string clock_text(double secs) {
  const long s = static_cast<long>(secs + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  }
  return buf;
}
}  // namespace

void set_progress_mode(ProgressMode mode) { g_mode = mode; }

bool ProgressBar::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1 && std::getenv("CKPT_NO_PROGRESS") == nullptr; }

bool progress_wanted() {
  switch (g_mode.load()) {
    case ProgressMode::Always: return true;
    case ProgressMode::Never: return false;
    case ProgressMode::Auto: break;
  }
  return ProgressBar::stderr_is_terminal();
}

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes, bool enabled, Unit unit)
    : label_(std::move(label)),
      unit_(unit),
      total_(total_bytes),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - std::chrono::hours(1)) {
  plain_ = ::isatty(STDERR_FILENO) != 1 || dumb_terminal();
}

void ProgressBar::set_status(std::string status) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  status_ = escape_for_display(status);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::add(uint64_t bytes) {
  done_ += bytes;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  if (plain_) {
    // Whole lines: at most one every 5 s, or when another tenth of the work is done.
    const uint64_t done = done_.load();
    const int tenth = total_ ? static_cast<int>(std::min<uint64_t>(10, done * 10 / total_)) : 10;
    if (tenth == last_tenth_ && now - last_draw_ < std::chrono::seconds(5)) return;
    last_tenth_ = tenth;
  } else if (now - last_draw_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  std::lock_guard lock(mutex_);
  finished_ = true;
  if (plain_) {
    if (last_tenth_ != 10) draw(true);  // the last line says it finished
  } else {
    std::fprintf(stderr, "\r\033[K");  // erase the bar; the caller prints its own summary
  }
  std::fflush(stderr);
}

void ProgressBar::draw(bool) {
  const uint64_t done = done_.load();
  const double frac = total_ ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 1.0;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0;
  char counts[160];
  if (unit_ == Unit::Steps) {
    const double per = done ? secs / static_cast<double>(done) : 0;
    std::snprintf(counts, sizeof counts, "%llu/%llu %.2f s/step", static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_), per);
  } else {
    std::snprintf(counts, sizeof counts, "%3.0f%% %.2f/%.2f GB %.0f MB/s", frac * 100, static_cast<double>(done) / 1e9,
                  static_cast<double>(total_) / 1e9, rate / 1e6);
  }
  std::string tail = std::string(counts) + " " + clock_text(secs) + " ETA " + clock_text(eta);
  if (!status_.empty()) tail += " " + status_;
  if (plain_) {
    std::fprintf(stderr, "%s: %s\n", label_.c_str(), tail.c_str());
    std::fflush(stderr);
    return;
  }
  // label [bar] tail, fitted to the terminal: the bar takes what is left (at most 30), then the tail is cut.
  const size_t width = terminal_width() > 1 ? terminal_width() - 1 : 1;  // never the last column (no wrap)
  const size_t fixed = label_.size() + 4 + tail.size();
  const size_t bar_width = fixed < width ? std::min<size_t>(30, width - fixed) : 0;
  std::string line = label_;
  if (bar_width >= 5) {
    const auto filled = static_cast<size_t>(frac * static_cast<double>(bar_width));
    std::string bar(bar_width, ' ');
    for (size_t i = 0; i < bar_width; ++i) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    line += " [" + bar + "]";
  }
  line += " " + tail;
  if (line.size() > width) line.resize(width);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
}

}  // namespace ckpt
