// LoRA training throughput. For each base — the shipped sample (bf16 HF) and a generated ~100M-parameter
// Llama as f32 HF, bf16 GGUF and bitsandbytes NF4 with double quantization — it measures, in one
// process:
//   - a training step (forward, backward, AdamW) on one batch against three forward passes of the same
//     tokens without gradients: the ratio the issue asks for (goal <= 1.5);
//   - training tokens/s of that step;
// and, running `ckpt finetune` as a child for a few steps, its peak RSS (what a user's run costs).
// Medians of CKPT_BENCH_RUNS (default 5) alternating measurements; CKPT_BENCH_DIR holds the models.
// CKPT_BENCH_DEVICE=cuda: the same on the GPU (a libtorch with CUDA; QLoRA dequantization in ckpt's kernels).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "bench/bench_support.h"
#include "runtime/runtime.h"
#include "runtime/trainer/adapter_state.h"
#include "runtime/trainer/torch_model.h"

namespace {

namespace fs = std::filesystem;
using namespace ckpt::runtime;
using ckpt::bench::median;

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

struct Base {
  std::string label, path;
};

std::vector<Base> prepare_bases(const fs::path& dir) {
  std::vector<Base> bases = {{"sample bf16 (HF)", std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama"}};
  const fs::path f32 = dir / "ckpt-bench-100m-f32";
  if (!fs::exists(f32 / "model.safetensors")) {
    // hidden 768, intermediate 2048, 12 layers, 12 heads / 4 kv heads, vocab 512: ~80M parameters.
    sh(std::string(CKPT_MAKE_CHECKPOINT) + " llama " + f32.string() + " " + CKPT_SOURCE_DIR + "/samples/tiny-llama 768 2048 12 12 4 512");
  }
  const fs::path bf16 = dir / "ckpt-bench-100m-bf16.gguf", nf4 = dir / "ckpt-bench-100m-nf4";
  if (!fs::exists(bf16)) sh(std::string(CKPT_BINARY) + " convert " + f32.string() + " -o " + bf16.string() + " --outtype bf16");
  if (!fs::exists(nf4 / "model.safetensors")) sh(std::string(CKPT_BINARY) + " quantize " + f32.string() + " -o " + nf4.string() + " --type nf4-dq --force");
  bases.push_back({"100M f32 (HF)", f32.string()});
  bases.push_back({"100M bf16 (GGUF)", bf16.string()});
  bases.push_back({"100M NF4-dq (bnb)", nf4.string()});
  return bases;
}

double seconds_since(std::chrono::steady_clock::time_point t) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count(); }

}  // namespace

int main() {
  const int runs = std::getenv("CKPT_BENCH_RUNS") ? std::atoi(std::getenv("CKPT_BENCH_RUNS")) : 5;
  const bool cuda = std::getenv("CKPT_BENCH_DEVICE") && std::string(std::getenv("CKPT_BENCH_DEVICE")) == "cuda";
  if (cuda && !torch::cuda::is_available()) {
    std::printf("SKIP CUDA finetune bench: this libtorch sees no CUDA device\n");
    return 0;
  }
  const torch::Device device = cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const fs::path dir = ckpt::bench::bench_dir();
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));  // as ckpt finetune does
  const auto bases = prepare_bases(dir);
  // Training data for the child runs: 64 RAFT-like records.
  const fs::path data = dir / "ckpt-bench-finetune.jsonl";
  {
    std::ofstream out(data);
    for (int i = 0; i < 64; ++i) {
      out << "{\"prompt\": \"Record " << i << " tells a short story about a cat and a dog who play in the park every day. Question: who plays?\\nAnswer: \","
          << " \"completion\": \"the cat and the dog, number " << i << "\"}\n";
    }
  }
  std::printf("%-20s %10s %10s %10s %8s %12s %10s\n", "base", "fwd x3 s", "step s", "ratio", "goal", "train tok/s", "peak RSS");
  for (const auto& base : bases) {
    if (!fs::exists(base.path)) {
      std::printf("%-20s skipped: %s was not generated\n", base.label.c_str(), base.path.c_str());
      continue;
    }
    const Model model = load_model(base.path);
    FinetuneOptions o;
    o.base = base.path;
    o.r = 16;
    o.lora_alpha = 32;
    LoraSetup lora = create_lora(model, o, torch::kFloat32);
    place_lora(lora.params, device);
    TorchModel tm(model, 256, torch::kFloat32, device);
    tm.set_lora(&lora.params, 0);
    tm.set_training(true);
    std::vector<torch::Tensor> params;
    for (const auto& p : lora.params) params.push_back(p.a), params.push_back(p.b);
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-4));
    // Two rows of 128 tokens, every position trained.
    std::vector<TrainingSequence> rows(2);
    for (size_t r = 0; r < rows.size(); ++r) {
      for (int32_t i = 0; i < 128; ++i) {
        rows[r].ids.push_back((i * 37 + static_cast<int32_t>(r) * 11 + 5) % static_cast<int32_t>(model.hp.n_vocab));
        rows[r].labels.push_back((i * 41 + 3) % static_cast<int32_t>(model.hp.n_vocab));
        rows[r].positions.push_back(i);
        rows[r].segments.push_back(0);
      }
    }
    const TorchBatch batch = make_batch({&rows[0], &rows[1]});
    std::vector<double> fwd, step;
    for (int k = 0; k < runs + 1; ++k) {  // the first round warms up
      auto t = std::chrono::steady_clock::now();
      {
        torch::NoGradGuard no_grad;
        double sum = 0;
        for (int j = 0; j < 3; ++j) sum += tm.loss_sum(batch).item<double>();  // item: waits for a device
        if (!std::isfinite(sum)) std::printf("warning: non-finite loss\n");
      }
      const double f = seconds_since(t);
      t = std::chrono::steady_clock::now();
      opt.zero_grad();
      (tm.loss_sum(batch) / static_cast<double>(batch.n_targets)).backward();
      opt.step();
      if (device.is_cuda()) params.back().sum().item<float>();  // the step's kernels have finished
      const double s = seconds_since(t);
      if (k > 0) fwd.push_back(f), step.push_back(s);
    }
    const double mf = median(fwd), ms = median(step);
    // The CLI's peak RSS over a short run (8 steps of 2 records).
    const fs::path out = dir / "ckpt-bench-finetune-out";
    const auto child = ckpt::bench::run_child({CKPT_BINARY, "finetune", base.path, "--data", data.string(), "-o", out.string(), "--force", "--max_steps", "8",
                                               "--per_device_train_batch_size", "2", "--r", "16", "--no-progress", "--device", device.is_cuda() ? "cuda" : "cpu"},
                                              true, true);
    std::printf("%-20s %10.3f %10.3f %10.2f %8s %12.0f %7.0f MB%s\n", base.label.c_str(), mf, ms, ms / mf, ms / mf <= 1.5 ? "<= 1.5" : "> 1.5",
                static_cast<double>(batch.ids.numel()) / ms, static_cast<double>(child.max_rss_kb) / 1024.0, child.exit_code ? " (finetune failed)" : "");
    std::fflush(stdout);
  }
  std::printf("(ratio: one training step / three forward passes of the same 2 x 128 tokens, LoRA r 16 on q/k/v/o; medians of %d)\n", runs);
  return 0;
}
