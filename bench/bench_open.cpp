// Open + first token: `ckpt run MODEL -p Hello -n 1` on the generated ~2 GB bf16 Llama
// (bench/llama_checkpoint.h) as a GGUF (bf16), as the .ckpt archive of that GGUF (the same tensor
// bytes, 4096-aligned) and as the .ckpt archive of the HF directory. Child processes, alternating,
// medians of CKPT_BENCH_RUNS (default 5) runs with the files in the page cache; wall time covers process
// start, opening and checking the container, the tokenizer, the prefill and one sampled token.
// Reported: medians and page faults, and the ratio GGUF time / archive time (goal >= 1: an archive
// opens and starts generating no slower than the GGUF of the same model).
// Each input is first copied with plain read/write into a fresh file: how a file entered the page cache
// (written by write(), by copy_file_range, or read back) changes the folio sizes the kernel maps per
// fault, which moved first-token time by 1.4x between two files holding the same bytes.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "bench/llama_checkpoint.h"

namespace {
namespace fs = std::filesystem;
using ckpt::bench::median;
using ckpt::bench::run_child;

bool make(const std::vector<std::string>& argv, const fs::path& out) {
  if (fs::exists(out)) return true;
  return run_child(argv, true, false).exit_code == 0;
}

// A fresh copy through a user-space buffer, so every input sits in the page cache the same way.
fs::path fresh_copy(const fs::path& from) {
  const fs::path to = from.parent_path() / ("fresh-" + from.filename().string());
  std::FILE* in = std::fopen(from.c_str(), "rb");
  std::FILE* out = std::fopen(to.c_str(), "wb");
  std::vector<char> buf(1 << 20);
  for (size_t n; in && out && (n = std::fread(buf.data(), 1, buf.size(), in)) > 0;) std::fwrite(buf.data(), 1, n, out);
  if (in) std::fclose(in);
  if (out) std::fclose(out);
  return to;
}
}  // namespace

int main() {
  const fs::path hf = ckpt::bench::ensure_llama_checkpoint(ckpt::bench::bench_bytes());
  const fs::path gguf = hf.parent_path() / (hf.filename().string() + "-bf16.gguf");
  const fs::path gguf_archive = hf.parent_path() / (hf.filename().string() + "-bf16.gguf.ckpt");
  const fs::path hf_archive = hf.parent_path() / (hf.filename().string() + ".ckpt");
  if (!make({CKPT_BINARY, "convert", hf.string(), "-o", gguf.string(), "--outtype", "bf16", "--no-progress"}, gguf) ||
      !make({CKPT_BINARY, "convert", gguf.string(), "-o", gguf_archive.string(), "--no-progress"}, gguf_archive) ||
      !make({CKPT_BINARY, "convert", hf.string(), "-o", hf_archive.string(), "--no-progress"}, hf_archive)) {
    std::fprintf(stderr, "making the inputs failed\n");
    return 1;
  }
  struct Input {
    const char* label;
    fs::path path;
    std::vector<double> seconds;
    std::vector<double> rss_mb;
    std::vector<double> faults;
  };
  std::vector<Input> inputs = {{"GGUF bf16", fresh_copy(gguf), {}, {}, {}}, {".ckpt of the GGUF", fresh_copy(gguf_archive), {}, {}, {}},
                               {".ckpt of the HF dir", fresh_copy(hf_archive), {}, {}, {}}};
  const int runs = std::getenv("CKPT_BENCH_RUNS") ? std::atoi(std::getenv("CKPT_BENCH_RUNS")) : 5;
  auto once = [](const fs::path& p) { return run_child({CKPT_BINARY, "run", p.string(), "-p", "Hello", "-n", "1", "--temp", "0"}, true, false); };
  for (auto& in : inputs) once(in.path);  // warm the page cache
  for (int i = 0; i < runs; ++i) {
    for (auto& in : inputs) {
      const auto r = once(in.path);
      if (r.exit_code != 0) {
        std::fprintf(stderr, "ckpt run %s failed (%d)\n", in.path.c_str(), r.exit_code);
        return 1;
      }
      in.seconds.push_back(r.seconds);
      in.rss_mb.push_back(static_cast<double>(r.max_rss_kb) / 1024.0);
      in.faults.push_back(static_cast<double>(r.minor_faults));
    }
  }
  std::printf("model: %s (%.2f GB of bf16 weights); ckpt run -p Hello -n 1, medians of %d alternating runs, page cache warm\n", hf.c_str(),
              static_cast<double>(fs::file_size(hf / "model.safetensors")) / 1e9, runs);
  std::printf("%-22s %12s %14s %14s\n", "input", "open+1st s", "peak RSS MB", "page faults");
  for (const auto& in : inputs) std::printf("%-22s %12.3f %14.0f %14.0f\n", in.label, median(in.seconds), median(in.rss_mb), median(in.faults));
  std::printf("RATIO GGUF / .ckpt of the same GGUF: %.2fx; GGUF / .ckpt of the HF dir: %.2fx (goal >= 1.0: no slower)\n",
              median(inputs[0].seconds) / median(inputs[1].seconds), median(inputs[0].seconds) / median(inputs[2].seconds));
  for (const auto& in : inputs) fs::remove(in.path);
  return 0;
}
