// `ckpt finetune`: LoRA / QLoRA fine-tuning of a frozen base with libtorch autograd, writing a PEFT
// adapter. The base is any model the runtime loads (HF f32/bf16/f16, bitsandbytes NF4/FP4, GGUF of
// any weight type): its weights stay in their stored form and are dequantized one matrix at a time in
// the forward and again in the backward pass, so a 4-bit base stays 4-bit in memory.
// Options carry PEFT's and transformers' names and defaults (LoraConfig, TrainingArguments).
// This header has no libtorch types: only the trainer's own files include torch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ckpt::runtime {

struct FinetuneOptions {
  std::string base, data, output;
  std::string eval_data;          // --eval_data; else eval_split of the training data, if > 0
  double eval_split = 0;
  std::string init_adapter;       // start from this PEFT adapter (its r, alpha, targets)
  std::string resume;             // a checkpoint-N directory ("latest": the newest one in `output`)
  bool force = false;             // replace a non-empty output directory (overwrite_output_dir)
  // LoraConfig
  uint32_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0;
  std::vector<std::string> target_modules;  // empty: the attention projections; {"all-linear"}: every linear layer of the blocks
  bool use_rslora = false;
  // TrainingArguments
  double learning_rate = 5e-5;
  double num_train_epochs = 3;
  int64_t max_steps = -1;
  uint32_t per_device_train_batch_size = 8;
  uint32_t gradient_accumulation_steps = 1;
  uint64_t warmup_steps = 0;
  double warmup_ratio = 0;
  std::string lr_scheduler_type = "linear";
  double weight_decay = 0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  std::string optim = "adamw_torch";
  uint64_t max_seq_length = 1024;
  uint64_t seed = 42;
  uint64_t logging_steps = 10;
  uint64_t save_steps = 500;      // 0: no intermediate checkpoints
  uint64_t eval_steps = 0;        // 0: logging_steps (as transformers)
  bool gradient_checkpointing = false;
  bool bf16 = false;              // frozen matmuls in bfloat16; adapter weights, optimizer and loss in f32
  bool train_on_prompt = false;
  bool packing = false;
  bool no_shuffle = false;
  unsigned threads = 0;           // 0: every core (divided among local workers)
  std::string device = "auto";    // cpu, cuda, auto (CUDA when libtorch has it and a GPU is present)
  bool progress = true;           // a progress bar when stderr is a terminal
  std::function<void(const std::string&)> print;  // rank 0's report lines (default: stdout)
};

struct FinetuneReport {
  uint64_t steps = 0;
  double first_loss = 0, last_loss = 0;  // mean loss of the first and last logged windows
  double final_eval_loss = -1;
  uint64_t trained_tokens = 0;
  double seconds = 0;
  std::string device;  // where it trained: "cpu" or "cuda:0"
};

// Trains and writes `output`: adapter_config.json, adapter_model.safetensors, training_log.jsonl,
// loss.svg, and checkpoint-N/ every save_steps. Data-parallel when RANK / WORLD_SIZE / MASTER_ADDR /
// MASTER_PORT are set (torchrun's variables): every rank reads the same data, takes its share of each
// global batch, and the LoRA gradients are summed with c10d's Gloo all-reduce; rank 0 writes.
// Throws Error naming the file, line or option at fault.
//
// libtorch is loaded only here: finetune() loads the trainer plugin (libckpt-trainer.so, which links
// libtorch) on first use, so every other command starts without it. CKPT_TRAINER_PLUGIN overrides
// where it is looked for (default: beside the ckpt binary, then the build tree's copy).
FinetuneReport finetune(const FinetuneOptions& options);

// `--nproc N` on one machine: runs `argv` N times with RANK 0..N-1, WORLD_SIZE N and a free loopback
// port, and returns the first non-zero exit status (0 when all succeed).
int launch_local_workers(unsigned nproc, const std::vector<std::string>& argv);

// Empty when the trainer plugin loads; otherwise why not (built without libtorch, plugin missing).
std::string trainer_unavailable_reason();

}  // namespace ckpt::runtime
