// `ckpt verify` of a .ckpt archive of the generated ~2 GB bf16 Llama (bench/llama_checkpoint.h) against
// `sha256sum` of the same file, alternating, medians of CKPT_BENCH_RUNS (default 5) runs with the file
// in the page cache: the ratio sha256sum time / verify time (goal >= 1.5 with 2 threads). verify hashes
// every tensor (threads over tensors) plus every section and checks the index; sha256sum is one
// sequential digest of the same bytes. CKPT_BENCH_BYTES / CKPT_BENCH_DIR as in bench_convert.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "bench/llama_checkpoint.h"

namespace {
namespace fs = std::filesystem;
using ckpt::bench::median;
using ckpt::bench::run_child;
}  // namespace

int main() {
  const fs::path base = ckpt::bench::ensure_llama_checkpoint(ckpt::bench::bench_bytes());
  const fs::path archive = base.parent_path() / (base.filename().string() + ".ckpt");
  if (!fs::exists(archive)) {
    const auto c = run_child({CKPT_BINARY, "convert", base.string(), "-o", archive.string(), "--no-progress"}, true, false);
    if (c.exit_code != 0) return 1;
  }
  const uint64_t bytes = fs::file_size(archive);
  const std::string threads = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("archive: %s (%.2f GB), verify with %s threads\n", archive.c_str(), static_cast<double>(bytes) / 1e9, threads.c_str());
  const int runs = std::getenv("CKPT_BENCH_RUNS") ? std::atoi(std::getenv("CKPT_BENCH_RUNS")) : 5;
  run_child({"/usr/bin/sha256sum", archive.string()}, true, false);  // warm the page cache
  std::vector<double> sums, verifies, pair;
  for (int i = 0; i < runs; ++i) {
    const auto s = run_child({"/usr/bin/sha256sum", archive.string()}, true, false);
    const auto v = run_child({CKPT_BINARY, "verify", archive.string(), "-t", threads}, true, false);
    if (s.exit_code != 0 || v.exit_code != 0) {
      std::fprintf(stderr, "a child failed (sha256sum %d, verify %d)\n", s.exit_code, v.exit_code);
      return 1;
    }
    sums.push_back(s.seconds), verifies.push_back(v.seconds), pair.push_back(s.seconds / v.seconds);
  }
  std::printf("RATIO sha256sum / ckpt verify, median of %d alternating runs: %.2fx (per-pair median %.2fx; sha256sum %.3f s = %.0f MB/s, "
              "verify %.3f s = %.0f MB/s; goal >= 1.5x)\n",
              runs, median(sums) / median(verifies), median(pair), median(sums), static_cast<double>(bytes) / 1e6 / median(sums), median(verifies),
              static_cast<double>(bytes) / 1e6 / median(verifies));
  return 0;
}
