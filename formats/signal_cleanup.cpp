// Signal handlers may only call async-signal-safe functions: the registries are fixed arrays of
// atomics filled outside the handler, paths are copied (strdup) at registration, and directory
// entries are listed with the getdents64 system call rather than opendir (which allocates).
#include "formats/signal_cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

namespace ckpt {

namespace {

constexpr int kMaxTemporaries = 4096;
constexpr int kMaxMappings = 4096;

struct TempSlot {
  std::atomic<char*> path{nullptr};
  std::atomic<int> kind{0};
};
struct MappingSlot {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> size{0};
  std::atomic<char*> path{nullptr};
};
TempSlot g_temps[kMaxTemporaries];
MappingSlot g_mappings[kMaxMappings];

template <typename Slot, typename Fill>
int claim(Slot* slots, int n, Fill fill) {
  for (int i = 0; i < n; ++i) {
    char* expected = nullptr;
    char* reserved = reinterpret_cast<char*>(1);  // placeholder while the other fields are written
    if (slots[i].path.compare_exchange_strong(expected, reserved)) {
      fill(slots[i]);
      return i;
    }
  }
  return -1;  // full: the output still works, it is just not cleaned on a signal
}

void release(std::atomic<char*>& path) {
  char* p = path.exchange(nullptr);
  if (p && p != reinterpret_cast<char*>(1)) std::free(p);
}

void write_all(const char* s, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    s += w;
    n -= static_cast<size_t>(w);
  }
}
void write_str(const char* s) { write_all(s, std::strlen(s)); }
void write_u64(uint64_t v, int base) {
  char buf[24];
  int i = sizeof buf;
  do {
    buf[--i] = "0123456789abcdef"[v % static_cast<uint64_t>(base)];
    v /= static_cast<uint64_t>(base);
  } while (v > 0);
  write_all(buf + i, sizeof buf - static_cast<size_t>(i));
}

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

void remove_flat_directory(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    alignas(8) char buf[8192];
    while (true) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        const auto* d = reinterpret_cast<const LinuxDirent64*>(buf + off);
        if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) ::unlinkat(fd, d->d_name, 0);
        off += d->d_reclen;
      }
    }
    ::close(fd);
  }
  ::rmdir(path);
}

void remove_temporaries() {
  for (auto& slot : g_temps) {
    char* p = slot.path.load();
    if (!p || p == reinterpret_cast<char*>(1)) continue;
    if (slot.kind.load() == static_cast<int>(TempKind::Directory)) {
      remove_flat_directory(p);
    } else {
      ::unlink(p);
    }
  }
}

void on_termination_signal(int sig) {
  remove_temporaries();
  ::signal(sig, SIG_DFL);  // die of the same signal, so the parent sees how we ended
  ::raise(sig);
}

void on_bus_error(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<uintptr_t>(info ? info->si_addr : nullptr);
  for (auto& slot : g_mappings) {
    const uintptr_t base = slot.base.load();
    const size_t size = slot.size.load();
    char* path = slot.path.load();
    if (base == 0 || !path || path == reinterpret_cast<char*>(1) || addr < base || addr >= base + size) continue;
    const uint64_t offset = addr - base;
    write_str("ckpt: error: ");
    write_str(path);
    write_str(": offset ");
    write_u64(offset, 10);
    write_str(" (0x");
    write_u64(offset, 16);
    write_str("): data: the file was truncated or changed on disk while ckpt read it\n");
    remove_temporaries();
    ::_exit(1);
  }
  remove_temporaries();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void install_signal_cleanup() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  struct sigaction term {};
  term.sa_handler = on_termination_signal;
  sigemptyset(&term.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &term, nullptr);
  struct sigaction bus {};
  bus.sa_sigaction = on_bus_error;
  bus.sa_flags = SA_SIGINFO;
  sigemptyset(&bus.sa_mask);
  ::sigaction(SIGBUS, &bus, nullptr);
}

int register_temporary(const std::string& path, TempKind kind) {
  char* copy = ::strdup(path.c_str());
  if (!copy) return -1;
  const int slot = claim(g_temps, kMaxTemporaries, [&](TempSlot& s) {
    s.kind.store(static_cast<int>(kind));
    s.path.store(copy);
  });
  if (slot < 0) std::free(copy);
  return slot;
}

void unregister_temporary(int slot) {
  if (slot >= 0 && slot < kMaxTemporaries) release(g_temps[slot].path);
}

int register_mapping(const void* base, size_t size, const std::string& path) {
  char* copy = ::strdup(path.c_str());
  if (!copy) return -1;
  const int slot = claim(g_mappings, kMaxMappings, [&](MappingSlot& s) {
    s.base.store(reinterpret_cast<uintptr_t>(base));
    s.size.store(size);
    s.path.store(copy);
  });
  if (slot < 0) std::free(copy);
  return slot;
}

void unregister_mapping(int slot) {
  if (slot < 0 || slot >= kMaxMappings) return;
  g_mappings[slot].base.store(0);
  release(g_mappings[slot].path);
}

std::string temporary_prefix(const std::string& destination, bool directory) {
  std::filesystem::path target(destination);
  if (target.filename().empty()) target = target.parent_path();  // "out/" names the directory "out"
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  return (dir / ("." + target.filename().string() + (directory ? ".ckpt-stage-" : ".ckpt-tmp-"))).string();
}

void remove_stale_temporaries(const std::string& destination) {
  namespace fs = std::filesystem;
  for (const bool directory : {false, true}) {
    const fs::path prefix_path(temporary_prefix(destination, directory));
    const std::string prefix = prefix_path.filename().string();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(prefix_path.parent_path(), ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(prefix)) continue;
      // "<prefix><pid>-XXXXXX": only a writer that no longer exists leaves its temporary to us.
      const std::string rest = name.substr(prefix.size());
      const auto dash = rest.find('-');
      if (dash == std::string::npos || dash == 0) continue;
      char* end = nullptr;
      const long pid = std::strtol(rest.c_str(), &end, 10);
      if (end != rest.c_str() + dash || pid <= 0) continue;
      if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
      std::error_code ignored;
      fs::remove_all(entry.path(), ignored);
    }
  }
}

}  // namespace ckpt
