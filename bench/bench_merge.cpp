// `ckpt merge` of a PEFT adapter into the generated ~2 GB bf16 Llama (bench/llama_checkpoint.h), output
// bf16 safetensors: wall time as a ratio to `cp` of the same input bytes (goal <= 1.5x) and peak RSS
// (about one tensor plus the adapter, whatever the model size). Medians of alternating runs.
//
// Two adapters, r = 16: PEFT's default llama targets (q_proj, v_proj) and all seven projections (the
// QLoRA recipe), where the B A products are ~16 flops per weight.
// CKPT_BENCH_BYTES / CKPT_BENCH_DIR / CKPT_BENCH_RUNS (default 5) as in bench_convert.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "bench/llama_checkpoint.h"
#include "formats/model_source.h"

namespace {

namespace fs = std::filesystem;
using ckpt::bench::median;
using ckpt::bench::run_child;

fs::path ensure_adapter(const fs::path& base, const std::string& name, const std::vector<std::string>& targets) {
  const fs::path dir = base.parent_path() / (base.filename().string() + "-lora-" + name);
  if (fs::exists(dir / "adapter_model.safetensors")) return dir;
  fs::create_directories(dir);
  const ckpt::ModelSource src = ckpt::open_model_source(base.string());
  std::vector<ckpt::TensorToWrite> tensors;
  uint64_t seed = 1;
  const uint64_t r = 16;
  auto add = [&](const std::string& n, std::vector<uint64_t> shape) {
    tensors.push_back({n, ckpt::DType::F32, shape, [shape, s = seed++](ckpt::ByteSink& sink) {
                         std::vector<float> v(shape[0] * shape[1]);
                         std::mt19937 rng(static_cast<unsigned>(s));
                         std::normal_distribution<float> d(0.0f, 0.01f);
                         for (auto& x : v) x = d(rng);
                         sink.write(std::as_bytes(std::span(v)));
                       }});
  };
  for (const auto& t : src.tensors) {
    const bool hit = std::any_of(targets.begin(), targets.end(), [&](const auto& m) { return t.name.find("." + m + ".weight") != std::string::npos; });
    if (!hit) continue;
    const std::string m = "base_model.model." + t.name.substr(0, t.name.size() - 7);
    add(m + ".lora_A.weight", {r, t.shape[1]});
    add(m + ".lora_B.weight", {t.shape[0], r});
  }
  ckpt::write_safetensors((dir / "adapter_model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  std::string list;
  for (const auto& t : targets) list += (list.empty() ? "\"" : ", \"") + t + "\"";
  std::ofstream(dir / "adapter_config.json") << "{\"peft_type\": \"LORA\", \"r\": 16, \"lora_alpha\": 32, \"target_modules\": [" << list << "]}";
  return dir;
}

}  // namespace

int main() {
  const fs::path base = ckpt::bench::ensure_llama_checkpoint(ckpt::bench::bench_bytes());
  const std::string input = (base / "model.safetensors").string();
  const uint64_t in_bytes = fs::file_size(input);
  const fs::path out_dir = ckpt::bench::bench_out_dir(base.parent_path(), in_bytes);
  const std::string out_copy = (out_dir / "ckpt-bench-copy.safetensors").string();
  const std::string out_merge = (out_dir / "ckpt-bench-merged").string();
  std::printf("checkpoint: %s (%.2f GB); outputs in %s\n", input.c_str(), static_cast<double>(in_bytes) / 1e9, out_dir.c_str());
  const int runs = std::getenv("CKPT_BENCH_RUNS") ? std::atoi(std::getenv("CKPT_BENCH_RUNS")) : 5;
  const std::pair<std::string, std::vector<std::string>> adapters[] = {
      {"q_proj+v_proj", {"q_proj", "v_proj"}},
      {"all-linear", {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
  };
  for (const auto& [name, targets] : adapters) {
    const fs::path adapter = ensure_adapter(base, name == "all-linear" ? "all" : "qv", targets);
    std::vector<double> cp_s, merge_s, pair;
    long rss = 0;
    for (int i = 0; i < runs; ++i) {
      fs::remove(out_copy);
      fs::remove_all(out_merge);
      const auto c = run_child({"/bin/cp", input, out_copy}, true, false);
      fs::remove(out_copy);
      const auto m = run_child({CKPT_BINARY, "merge", base.string(), adapter.string(), "-o", out_merge, "--no-progress"}, true, false);
      fs::remove_all(out_merge);
      if (c.exit_code != 0 || m.exit_code != 0) {
        std::fprintf(stderr, "a child failed (cp %d, merge %d)\n", c.exit_code, m.exit_code);
        return 1;
      }
      cp_s.push_back(c.seconds);
      merge_s.push_back(m.seconds);
      pair.push_back(m.seconds / c.seconds);
      rss = std::max(rss, m.max_rss_kb);
    }
    std::printf("RATIO merge r=16 %s (bf16 HF -> bf16 HF) / cp, median of %d alternating runs: %.2fx (per-pair median %.2fx; "
                "cp %.3f s, merge %.3f s; peak RSS %.0f MB; goal <= 1.5x)\n",
                name.c_str(), runs, median(merge_s) / median(cp_s), median(pair), median(cp_s), median(merge_s),
                static_cast<double>(rss) / 1024.0);
    std::fflush(stdout);
  }
  return 0;
}
