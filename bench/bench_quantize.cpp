// Quantization throughput, file to file, as input GB/s: `ckpt quantize` against llama.cpp's own
// quantizer (llama_model_quantize from the npm libllama, via tests/interop/peer.sh) on the same f32
// GGUF in the same run, with 1 and 2 threads; plus bitsandbytes nf4-dq from the same weights as an HF
// checkpoint, and memcpy of the input bytes as the ceiling. Peak RSS of each child from wait4.
// Goals (issue 4): >= 3x llama.cpp for Q8_0/Q4_0, >= 1.5x for Q4_K_M, nf4-dq >= 1 GB/s.
//
// CKPT_BENCH_QUANT_LAYERS (default 4, ~0.9 GB f32) sizes the model; CKPT_BENCH_DIR holds it;
// CKPT_BENCH_QUANT_TYPES ("Q4_0,nf4-dq", ...) runs a subset of the file-to-file measurements.
#include <dlfcn.h>

#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <random>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "quantize/bnb4.h"
#include "quantize/quantize.h"

namespace {

namespace fs = std::filesystem;

using ckpt::bench::ChildRun;

// quiet: the child's stdout and stderr are discarded.
ChildRun run(const std::vector<std::string>& argv, bool quiet = true) { return ckpt::bench::run_child(argv, quiet, quiet); }

using ckpt::bench::capture;


// Runs fn(row_begin, row_end) on `threads` threads over `rows` rows; returns seconds.
double timed_rows(size_t rows, int threads, const std::function<void(size_t, size_t)>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  const size_t chunk = (rows + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    const size_t b = t * chunk, e = std::min(rows, b + chunk);
    pool.emplace_back([&, b, e] { fn(b, e); });
  }
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The quantizers themselves on the same in-memory f32 rows: ckpt's functions vs ggml_quantize_chunk
// from llama.cpp's libggml-base (dlopen), threads splitting rows as llama-quantize does.
void in_memory(const std::string& bins) {
  using ChunkFn = size_t (*)(int, const float*, void*, int64_t, int64_t, int64_t, const float*);
  ChunkFn ggml_chunk = nullptr;
  if (!bins.empty()) {
    if (void* lib = ::dlopen((bins + "/libggml-base.so").c_str(), RTLD_NOW)) ggml_chunk = reinterpret_cast<ChunkFn>(::dlsym(lib, "ggml_quantize_chunk"));
  }
  const size_t row = 4096, rows = 8192;  // 128 MiB of f32
  std::vector<float> x(row * rows);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (auto& v : x) v = normal(rng);
  const double gb = static_cast<double>(x.size()) * 4 / 1e9;
  std::vector<std::byte> out(x.size() * 2);
  const double t_memcpy = timed_rows(1, 1, [&](size_t, size_t) { std::memcpy(out.data(), x.data(), x.size() * 4 / 2); }) * 2;
  std::printf("in-memory (%.2f GB f32 input): memcpy %.2f GB/s\n", gb, gb / t_memcpy);
  struct T {
    const char* name;
    ckpt::DType dtype;
    int ggml_id;
  };
  for (const T& t : {T{"Q8_0", ckpt::DType::Q8_0, 8}, T{"Q4_0", ckpt::DType::Q4_0, 2}, T{"Q4_K", ckpt::DType::Q4_K, 12}}) {
    const size_t row_bytes = *ckpt::dtype_bytes_for(t.dtype, row);
    for (int threads : {1, 2}) {
      const double ours = timed_rows(rows, threads, [&](size_t b, size_t e) {
        ckpt::encode_from_f32(t.dtype, std::span(x).subspan(b * row, (e - b) * row), std::span(out).subspan(b * row_bytes, (e - b) * row_bytes));
      });
      std::printf("RATIO %-5s in-memory threads %d: ckpt %.2f GB/s (%.2fx memcpy)", t.name, threads, gb / ours, t_memcpy / ours);
      if (ggml_chunk) {
        const double theirs = timed_rows(rows, threads, [&](size_t b, size_t e) {
          ggml_chunk(t.ggml_id, x.data(), out.data(), static_cast<int64_t>(b * row), static_cast<int64_t>(e - b), static_cast<int64_t>(row), nullptr);
        });
        std::printf(", ggml %.2f GB/s, ckpt/ggml = %.2fx", gb / theirs, theirs / ours);
      }
      std::printf("\n");
    }
  }
  for (int threads : {1, 2}) {
    // nf4-dq per tensor: split the rows into `threads` tensors (double quant is per tensor).
    const double secs = timed_rows(rows, threads, [&](size_t b, size_t e) {
      const auto q = ckpt::quantize_bnb4(std::span(x).subspan(b * row, (e - b) * row), ckpt::Bnb4Type::NF4, 64, true);
      if (q.packed.empty()) std::abort();
    });
    std::printf("RATIO nf4-dq in-memory threads %d: %.2f GB/s (%.2fx memcpy; goal >= 1 GB/s)\n", threads, gb / secs, t_memcpy / secs);
  }
  std::fflush(stdout);
}

}  // namespace

int main() {
  const fs::path dir = ckpt::bench::bench_dir();
  const std::string layers = std::getenv("CKPT_BENCH_QUANT_LAYERS") ? std::getenv("CKPT_BENCH_QUANT_LAYERS") : "4";
  const fs::path hf = dir / ("ckpt-bench-quant-" + layers), f32 = dir / ("ckpt-bench-quant-" + layers + ".f32.gguf");
  const fs::path out = fs::exists("/dev/shm") ? fs::path("/dev/shm") : dir;
  if (!fs::exists(f32)) {
    run({CKPT_MAKE_CHECKPOINT, "llama", hf.string(), std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama", "2048", "5632", layers, "16", "4", "512"}, false);
    run({CKPT_BINARY, "convert", hf.string(), "-o", f32.string(), "--outtype", "f32", "--no-progress"});
  }
  const double in_bytes = static_cast<double>(fs::file_size(f32));
  std::printf("input: %s (%.2f GB f32)\n", f32.c_str(), in_bytes / 1e9);

  // memcpy of the input bytes: the ceiling any quantizer reading them could reach.
  {
    std::vector<char> a(static_cast<size_t>(in_bytes)), b(a.size());
    std::memset(a.data(), 1, a.size());
    std::memset(b.data(), 2, b.size());
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), a.size());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("memcpy: %.2f GB/s\n", in_bytes / 1e9 / s);
  }

  const std::string peer_line = capture("bash " + std::string(CKPT_SOURCE_DIR) + "/tests/interop/peer.sh 2>/dev/null");
  std::istringstream peer_in(peer_line);
  std::string peer, bins;
  peer_in >> peer >> bins;
  if (peer.empty()) std::printf("SKIP llama.cpp baseline: npm/libllama unavailable; ckpt figures only\n");

  const char* only = std::getenv("CKPT_BENCH_QUANT_TYPES");  // e.g. "Q4_0,nf4-dq" to run a subset
  auto wanted = [&](const std::string& t) { return !only || ("," + std::string(only) + ",").find("," + t + ",") != std::string::npos; };
  if (!only) in_memory(bins);
  // File to file, alternating ckpt and llama.cpp runs (each writing a fresh file) so both see the same
  // machine state; medians of 5 runs with all threads, 3 with one.
  const std::pair<const char*, int> types[] = {{"Q8_0", 7}, {"Q4_0", 2}, {"Q4_K_M", 15}, {"Q3_K_M", 12}, {"IQ4_XS", 30}};
  for (const auto& [type, ftype] : types) {
    if (!wanted(type)) continue;
    for (const char* threads : {"2", "1"}) {
      const int runs = std::string(threads) == "2" ? 5 : 3;
      long rss_ckpt = 0, rss_ref = 0;
      std::vector<double> t_ckpt, t_ref, pair;
      const std::string o1 = (out / "ckpt-bench-q-ckpt.gguf").string(), o2 = (out / "ckpt-bench-q-ref.gguf").string();
      for (int r = 0; r < runs; ++r) {
        fs::remove(o1);
        const ChildRun c = run({CKPT_BINARY, "quantize", f32.string(), "-o", o1, "--type", type, "--threads", threads, "--no-progress"});
        if (c.exit_code != 0) std::exit(1);
        fs::remove(o1);
        t_ckpt.push_back(c.seconds);
        rss_ckpt = std::max(rss_ckpt, c.max_rss_kb);
        if (peer.empty()) continue;
        fs::remove(o2);
        const ChildRun l = run({peer, bins, "quantize", f32.string(), o2, std::to_string(ftype), "0", threads});
        if (l.exit_code != 0) std::exit(1);
        fs::remove(o2);
        t_ref.push_back(l.seconds);
        rss_ref = std::max(rss_ref, l.max_rss_kb);
        pair.push_back(l.seconds / c.seconds);
      }
      const double mc = ckpt::bench::median(t_ckpt);
      std::printf("RATIO %-7s threads %s, median of %d: ckpt %.2f GB/s (peak RSS %ld MB)", type, threads, runs, in_bytes / 1e9 / mc,
                  rss_ckpt / 1024);
      if (!t_ref.empty()) {
        const double mr = ckpt::bench::median(t_ref);
        std::printf(", llama.cpp %.2f GB/s (peak RSS %ld MB), ckpt/llama.cpp = %.2fx (per-pair median %.2fx)", in_bytes / 1e9 / mr,
                    rss_ref / 1024, mr / mc, ckpt::bench::median(pair));
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  if (wanted("nf4-dq")) {
    long rss = 0;
    const std::string o = (out / "ckpt-bench-q-bnb").string();
    const double hf_bytes = static_cast<double>(fs::file_size(hf / "model.safetensors"));
    std::vector<double> t;
    for (int r = 0; r < 5; ++r) {
      fs::remove_all(o);
      const ChildRun c = run({CKPT_BINARY, "quantize", hf.string(), "-o", o, "--type", "nf4-dq", "--no-progress"});
      if (c.exit_code != 0) std::exit(1);
      t.push_back(c.seconds);
      rss = std::max(rss, c.max_rss_kb);
    }
    fs::remove_all(o);
    std::printf("RATIO nf4-dq  (HF f32 -> bnb, all threads), median of 5: %.2f GB/s input (peak RSS %ld MB; goal >= 1 GB/s)\n",
                hf_bytes / 1e9 / ckpt::bench::median(t), rss / 1024);
  }
  return 0;
}
