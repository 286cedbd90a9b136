// `ckpt convert` of a generated ~2 GB bf16 Llama checkpoint to f16 GGUF: wall time as a ratio to `cp`
// of the same input bytes in the same run (goal <= 1.3x), and peak RSS of the converter (goal < 300 MB
// whatever the model size). Both run as child processes; peak RSS comes from wait4's rusage.
//
// CKPT_BENCH_BYTES (default 2e9) sizes the checkpoint; CKPT_BENCH_DIR (default: temp dir) holds it.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "bench/llama_checkpoint.h"
#include "formats/byte_sink.h"
#include "formats/safetensors.h"

namespace {

namespace fs = std::filesystem;

using ckpt::bench::bench_bytes;
using ckpt::bench::bench_dir;
using ckpt::bench::ChildRun;

// The timed programs' stdout is discarded; a failing child ends the benchmark.
ChildRun run_child(const std::vector<std::string>& argv) {
  const ChildRun r = ckpt::bench::run_child(argv, /*hide_stdout=*/true, /*hide_stderr=*/false);
  if (r.exit_code != 0) {
    std::fprintf(stderr, "child %s failed (exit %d)\n", argv[0].c_str(), r.exit_code);
    std::exit(1);
  }
  return r;
}

std::map<std::string, double> g_seconds;
std::map<std::string, long> g_rss_kb;

void record(benchmark::State& state, const std::string& key, const ChildRun& r) {
  state.SetIterationTime(r.seconds);
  g_seconds[key] = std::min(g_seconds.count(key) ? g_seconds[key] : 1e30, r.seconds);
  g_rss_kb[key] = std::max(g_rss_kb[key], r.max_rss_kb);
  state.counters["peak_rss_MB"] = static_cast<double>(g_rss_kb[key]) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path dir = ckpt::bench::ensure_llama_checkpoint(bench_bytes());
  const std::string input = (dir / "model.safetensors").string();
  const uint64_t in_bytes = fs::file_size(input);
  const fs::path out_dir = ckpt::bench::bench_out_dir(dir.parent_path(), in_bytes);
  const std::string out_gguf = (out_dir / "ckpt-bench-out.gguf").string();
  const std::string out_copy = (out_dir / "ckpt-bench-copy.safetensors").string();
  std::fprintf(stderr, "outputs in %s\n", out_dir.c_str());
  std::fprintf(stderr, "checkpoint: %s (%.2f GB)\n", input.c_str(), static_cast<double>(in_bytes) / 1e9);

  auto cp = [&](benchmark::State& state) {
    for (auto _ : state) record(state, "cp", run_child({"/bin/cp", input, out_copy}));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in_bytes));
  };
  auto cp_sync = [&](benchmark::State& state) {
    // cp followed by fsync of the copy: the durability ckpt's atomic writer gives its outputs.
    for (auto _ : state) {
      const auto a = run_child({"/bin/cp", input, out_copy});
      const auto b = run_child({"/bin/sync", out_copy});
      record(state, "cp+sync", {a.seconds + b.seconds, a.max_rss_kb, 0});
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in_bytes));
  };
  auto ckpt_convert = [&](benchmark::State& state, const std::string& threads) {
    for (auto _ : state) {
      record(state, "ckpt-t" + threads,
             run_child({CKPT_BINARY, "convert", dir.string(), "-o", out_gguf, "--outtype", "f16", "--threads", threads, "--no-progress"}));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in_bytes));
  };
  benchmark::RegisterBenchmark("cp", cp)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("cp_then_sync", cp_sync)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
  for (const char* t : {"1", "2"}) {
    benchmark::RegisterBenchmark((std::string("ckpt_convert_f16/threads:") + t).c_str(), ckpt_convert, std::string(t))
        ->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  for (const char* t : {"ckpt-t1", "ckpt-t2"}) {
    if (!g_seconds.count(t) || !g_seconds.count("cp")) continue;
    std::printf("best of 3 %s: convert / cp = %.2fx, convert / (cp + fsync) = %.2fx; peak RSS %.0f MB\n", t,
                g_seconds[t] / g_seconds["cp"], g_seconds[t] / g_seconds["cp+sync"], static_cast<double>(g_rss_kb[t]) / 1024.0);
  }
  // The ratio the goal is stated in: 5 alternating runs (cp, convert, cp, convert, ...) so that both
  // see the same machine state; medians of each and the median of the per-pair ratios.
  const int runs = std::getenv("CKPT_BENCH_RUNS") ? std::atoi(std::getenv("CKPT_BENCH_RUNS")) : 5;
  std::vector<double> cp_s, conv_s, pair;
  long rss = 0;
  for (int i = 0; i < runs; ++i) {
    // Each run writes a new file, as a user's conversion does: an old output left in place would make
    // cp truncate-and-reuse while the atomic writer holds both until its rename.
    fs::remove(out_copy);
    fs::remove(out_gguf);
    const auto c = run_child({"/bin/cp", input, out_copy});
    fs::remove(out_copy);
    const auto k = run_child({CKPT_BINARY, "convert", dir.string(), "-o", out_gguf, "--outtype", "f16", "--no-progress"});
    fs::remove(out_gguf);
    cp_s.push_back(c.seconds);
    conv_s.push_back(k.seconds);
    pair.push_back(k.seconds / c.seconds);
    rss = std::max(rss, k.max_rss_kb);
  }
  std::printf("RATIO HF bf16 -> GGUF f16 (all threads) / cp, median of %d alternating runs: %.2fx (per-pair median %.2fx; "
              "cp %.3f s, convert %.3f s; %.2f GB; peak RSS %.0f MB; goals <= 1.3x, < 300 MB)\n",
              runs, ckpt::bench::median(conv_s) / ckpt::bench::median(cp_s), ckpt::bench::median(pair), ckpt::bench::median(cp_s),
              ckpt::bench::median(conv_s), static_cast<double>(in_bytes) / 1e9, static_cast<double>(rss) / 1024.0);
  fs::remove(out_gguf);
  fs::remove(out_copy);
  benchmark::Shutdown();
  return 0;
}
