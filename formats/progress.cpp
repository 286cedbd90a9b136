#include "formats/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace ckpt {

bool ProgressBar::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1 && std::getenv("CKPT_NO_PROGRESS") == nullptr; }

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes, bool enabled, Unit unit)
    : label_(std::move(label)), unit_(unit), total_(total_bytes), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::set_status(std::string status) {
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::add(uint64_t bytes) {
  done_ += bytes;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  std::lock_guard lock(mutex_);
  finished_ = true;
  std::fprintf(stderr, "\r\033[K");  // erase the bar; the caller prints its own summary
  std::fflush(stderr);
}

void ProgressBar::draw(bool) {
  const uint64_t done = done_.load();
  const double frac = total_ ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 1.0;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  constexpr int kWidth = 30;
  char bar[kWidth + 1];
  const int filled = static_cast<int>(frac * kWidth);
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
  bar[kWidth] = 0;
  if (unit_ == Unit::Steps) {
    const double per = done ? secs / static_cast<double>(done) : 0;
    const auto eta = static_cast<long>(per * static_cast<double>(total_ - std::min(done, total_)));
    std::fprintf(stderr, "\r%s [%s] %llu/%llu %.2f s/step ETA %ldm%02lds %s\033[K", label_.c_str(), bar, static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total_), per, eta / 60, eta % 60, status_.c_str());
  } else {
    std::fprintf(stderr, "\r%s [%s] %3.0f%% %.2f/%.2f GB %.0f MB/s\033[K", label_.c_str(), bar, frac * 100,
                 static_cast<double>(done) / 1e9, static_cast<double>(total_) / 1e9, rate / 1e6);
  }
  std::fflush(stderr);
}

}  // namespace ckpt
