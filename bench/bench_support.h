// Small helpers shared by the bench programs: where the generated files go, how large they are, and
// running a child process with its wall time and peak RSS.
#pragma once

#include <algorithm>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace ckpt::bench {

// CKPT_BENCH_DIR, or the temp directory.
inline std::filesystem::path bench_dir() {
  if (const char* env = std::getenv("CKPT_BENCH_DIR")) return env;
  return std::filesystem::temp_directory_path();
}

// CKPT_BENCH_BYTES, or 2 GB.
inline uint64_t bench_bytes() {
  if (const char* env = std::getenv("CKPT_BENCH_BYTES")) return std::strtoull(env, nullptr, 10);
  return uint64_t{2} * 1000 * 1000 * 1000;
}

// Runs a shell command and returns its standard output (empty when it cannot start).
inline std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

struct ChildRun {
  double seconds;
  long max_rss_kb;
  int exit_code;  // 255 when it did not exit normally
  long minor_faults = 0;
};

// Runs argv[0] (a path) after sync() (so no dirty pages from an earlier run are flushed inside the
// timing), with stdout and/or stderr sent to /dev/null; wall time and peak RSS from wait4.
inline ChildRun run_child(const std::vector<std::string>& argv, bool hide_stdout, bool hide_stderr) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::sync();
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (hide_stdout) ::dup2(devnull, STDOUT_FILENO);
    if (hide_stderr) ::dup2(devnull, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), usage.ru_maxrss,
          WIFEXITED(status) ? WEXITSTATUS(status) : 255, usage.ru_minflt};
}

// Where timed runs write: CKPT_BENCH_OUT_DIR, else tmpfs when it holds 3x the input (so the runs
// measure the tools rather than the disk; fsync on tmpfs is free), else `fallback`.
inline std::filesystem::path bench_out_dir(const std::filesystem::path& fallback, uint64_t input_bytes) {
  if (const char* env = std::getenv("CKPT_BENCH_OUT_DIR")) return env;
  std::error_code ec;
  if (std::filesystem::space("/dev/shm", ec).available > 3 * input_bytes && !ec) return "/dev/shm";
  return fallback;
}

// Median of a few timings (this 2-core VM is noisy: single runs prove nothing).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace ckpt::bench
