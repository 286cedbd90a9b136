// Reading a model file's full tensor table and checksumming every tensor byte, as a ratio to a plain
// sequential read() + the same checksum over the same file in the same run (goal >= 0.9).
//
// The files (CKPT_BENCH_BYTES, default 2 GB, in CKPT_BENCH_DIR or the temp dir) are written once and
// reused; both runs read them from the page cache, so the ratio isolates ckpt's reader (parse,
// validation, mmap) from the disk.
#include <fcntl.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

namespace {

namespace fs = std::filesystem;

// A checksum cheap enough (several GB/s per core) that I/O, not arithmetic, dominates both runs.
uint64_t checksum(std::span<const std::byte> bytes, uint64_t seed) {
  uint64_t lanes[4] = {seed, seed ^ 0x9E3779B97F4A7C15ull, ~seed, seed * 31};
  const size_t n_words = bytes.size() / 8;
  const std::byte* p = bytes.data();
  size_t i = 0;
  for (; i + 4 <= n_words; i += 4) {
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + 8 * (i + l), 8);
      lanes[l] = (lanes[l] ^ w) * 0x100000001B3ull;
    }
  }
  uint64_t h = lanes[0] ^ (lanes[1] << 1) ^ (lanes[2] << 2) ^ (lanes[3] << 3);
  for (size_t b = 8 * i; b < bytes.size(); ++b) h = (h ^ static_cast<uint8_t>(p[b])) * 0x100000001B3ull;
  return h;
}

using ckpt::bench::bench_bytes;
using ckpt::bench::bench_dir;

// A Llama-shaped tensor list: big bf16 matrices of 8 MiB plus a small norm per matrix.
struct Layout {
  uint64_t n_big;
  uint64_t big_elems = uint64_t{4} << 20;  // 8 MiB of bf16
  uint64_t norm_elems = 4096;
};

Layout layout_for(uint64_t total) { return {std::max<uint64_t>(1, total / ((uint64_t{4} << 20) * 2 + 4096 * 4))}; }

ckpt::TensorDataWriter pseudo_random_data(uint64_t n_bytes, uint64_t seed) {
  return [n_bytes, seed](ckpt::ByteSink& sink) {
    std::vector<uint64_t> buf(n_bytes / 8 + 1);
    uint64_t x = seed;
    for (auto& w : buf) w = (x = x * 6364136223846793005ull + 1442695040888963407ull);
    sink.write(std::as_bytes(std::span(buf)).first(n_bytes));
  };
}

std::string ensure_safetensors(uint64_t total) {
  const auto path = (bench_dir() / ("ckpt-bench-" + std::to_string(total) + ".safetensors")).string();
  if (fs::exists(path)) return path;
  const Layout l = layout_for(total);
  std::vector<ckpt::TensorToWrite> tensors;
  for (uint64_t i = 0; i < l.n_big; ++i) {
    const std::string p = "model.layers." + std::to_string(i);
    tensors.push_back({p + ".mlp.weight", ckpt::DType::BF16, {1024, l.big_elems / 1024}, pseudo_random_data(l.big_elems * 2, i)});
    tensors.push_back({p + ".norm.weight", ckpt::DType::F32, {l.norm_elems}, pseudo_random_data(l.norm_elems * 4, ~i)});
  }
  ckpt::write_safetensors(path, std::move(tensors), {{"format", "pt"}});
  return path;
}

std::string ensure_gguf(uint64_t total) {
  const auto path = (bench_dir() / ("ckpt-bench-" + std::to_string(total) + ".gguf")).string();
  if (fs::exists(path)) return path;
  const Layout l = layout_for(total);
  std::vector<ckpt::GgufTensorToWrite> tensors;
  for (uint64_t i = 0; i < l.n_big; ++i) {
    const std::string p = "blk." + std::to_string(i);
    tensors.push_back({p + ".ffn_up.weight", {l.big_elems / 1024, 1024}, ckpt::DType::F16, pseudo_random_data(l.big_elems * 2, i)});
    tensors.push_back({p + ".ffn_norm.weight", {l.norm_elems}, ckpt::DType::F32, pseudo_random_data(l.norm_elems * 4, ~i)});
  }
  ckpt::write_gguf(path, {{"general.architecture", {std::string("llama")}, 0}}, tensors);
  return path;
}

void plain_sequential_read(benchmark::State& state, const std::string& path) {
  std::vector<std::byte> buf(size_t{4} << 20);
  uint64_t total = 0;
  for (auto _ : state) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    uint64_t h = 0;
    ssize_t n;
    total = 0;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
      h ^= checksum(std::span(buf).first(static_cast<size_t>(n)), total);
      total += static_cast<uint64_t>(n);
    }
    ::close(fd);
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * total));
}

// Opens the file with ckpt's reader (parse + full validation), then checksums every tensor's bytes.
template <typename Reader>
void ckpt_read(benchmark::State& state, const std::string& path, Reader read) {
  uint64_t total = 0;
  for (auto _ : state) {
    const auto file = read(path);
    file.file->advise_sequential(0, file.file->size());
    uint64_t h = 0;
    for (const auto& t : file.tensors) h ^= checksum(file.data(t), h + t.n_bytes);
    total = file.file->size();
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * total));
}

void ckpt_safetensors(benchmark::State& state, const std::string& path) {
  ckpt_read(state, path, [](const std::string& p) { return ckpt::read_safetensors(p); });
}

void ckpt_gguf(benchmark::State& state, const std::string& path) {
  ckpt_read(state, path, [](const std::string& p) { return ckpt::read_gguf(p); });
}

// Collects bytes/s per benchmark so main can print ratios measured in this run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.run_type == Run::RT_Iteration && r.counters.count("bytes_per_second")) {
        rates_[r.benchmark_name()] = r.counters.at("bytes_per_second");
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double rate(const std::string& prefix) const {
    for (const auto& [name, v] : rates_) {
      if (name.rfind(prefix, 0) == 0) return v;
    }
    return 0;
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  const uint64_t total = bench_bytes();
  std::fprintf(stderr, "preparing %.2f GB files in %s ...\n", static_cast<double>(total) / 1e9, bench_dir().c_str());
  const std::string st = ensure_safetensors(total);
  const std::string gguf = ensure_gguf(total);
  benchmark::RegisterBenchmark("plain_read/safetensors", plain_sequential_read, st)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ckpt_read/safetensors", ckpt_safetensors, st)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("plain_read/gguf", plain_sequential_read, gguf)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ckpt_read/gguf", ckpt_gguf, gguf)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  for (const char* fmt : {"safetensors", "gguf"}) {
    const double base = reporter.rate(std::string("plain_read/") + fmt);
    const double ours = reporter.rate(std::string("ckpt_read/") + fmt);
    if (base > 0 && ours > 0) {
      std::printf("RATIO %-12s ckpt read+checksum / plain read+checksum = %.3f  (%.2f vs %.2f GB/s; goal >= 0.9)\n", fmt,
                  ours / base, ours / 1e9, base / 1e9);
    }
  }
  benchmark::Shutdown();
  return 0;
}
