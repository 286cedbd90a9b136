// `ckpt finetune BASE --data train.jsonl -o ADAPTER_DIR`: LoRA / QLoRA training with PEFT's and
// transformers' option names (each also spelled with dashes: --learning_rate and --learning-rate).
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/error.h"
#include "formats/progress.h"
#include "inspect/cli/commands.h"
#include "generation_flags.h"  // beside this file (the CLI's own, not a library header)
#include "runtime/trainer/trainer.h"

namespace ckpt::cli {
namespace {

// "--learning_rate,--learning-rate": transformers' spelling and the dashed one.
std::string both(const std::string& name) {
  std::string dashed = name;
  for (char& c : dashed) c = c == '_' ? '-' : c;
  return dashed == name ? "--" + name : "--" + name + ",--" + dashed;
}

std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  size_t at = 0;
  while (at < all.size()) {
    const size_t end = all.find('\0', at);
    args.push_back(all.substr(at, end - at));
    at = end == std::string::npos ? all.size() : end + 1;
  }
  return args;
}

}  // namespace

void add_finetune_command(CLI::App& app) {
  auto o = std::make_shared<runtime::FinetuneOptions>();
  auto nproc = std::make_shared<unsigned>(1);
  auto no_progress = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("finetune", "Train a LoRA adapter on a frozen base (HF, bitsandbytes 4-bit or GGUF of any type) and write it as PEFT does");
  cmd->add_option("base", o->base, "Base model: HF directory, bitsandbytes 4-bit directory, or GGUF file")->required();
  cmd->add_option("--data", o->data, "Training records (JSONL: RAFT, prompt/completion, chat, text; see `ckpt data check`)")->required();
  cmd->add_option("-o,--output_dir,--output-dir", o->output, "Adapter directory to write (with checkpoint-N/ inside)")->required();
  cmd->add_option(both("eval_data"), o->eval_data, "Evaluation records (eval_loss every eval_steps)");
  cmd->add_option(both("eval_split"), o->eval_split, "Hold out this fraction of --data for evaluation (seeded by --seed)")->check(CLI::Range(0.0, 0.999));
  cmd->add_option(both("init_adapter"), o->init_adapter, "Start from this PEFT adapter (its r, lora_alpha and target modules)");
  cmd->add_option("--resume,--resume_from_checkpoint,--resume-from-checkpoint", o->resume, "Continue from a checkpoint-N directory (no value: the newest in -o)")
      ->expected(0, 1)
      ->default_str("latest");
  cmd->add_flag("--force,--overwrite_output_dir,--overwrite-output-dir", o->force, "Replace a non-empty output directory");
  cmd->add_option("-r,--r,--lora_r,--lora-r", o->r, "LoRA rank")->check(CLI::Range(1u, 65536u));
  cmd->add_option(both("lora_alpha"), o->lora_alpha, "LoRA alpha (scaling alpha / r)");
  cmd->add_option(both("lora_dropout"), o->lora_dropout, "Dropout on the adapter's input while training")->check(CLI::Range(0.0, 0.999));
  cmd->add_option(both("target_modules"), o->target_modules, "Module names (q_proj,v_proj,...), or all-linear (default: the attention projections)")
      ->delimiter(',');
  cmd->add_flag(both("use_rslora"), o->use_rslora, "rsLoRA: scaling alpha / sqrt(r)");
  cmd->add_option(both("learning_rate") + ",--lr", o->learning_rate, "Peak learning rate (AdamW)")->check(CLI::PositiveNumber);
  cmd->add_option(both("num_train_epochs") + ",--epochs", o->num_train_epochs, "Epochs (ignored when --max_steps is given)");
  cmd->add_option(both("max_steps"), o->max_steps, "Optimizer steps to run (overrides the epochs)");
  cmd->add_option(both("per_device_train_batch_size") + ",--batch-size", o->per_device_train_batch_size, "Sequences per micro-batch per process")->check(CLI::Range(1u, 65536u));
  cmd->add_option(both("gradient_accumulation_steps"), o->gradient_accumulation_steps, "Micro-batches per optimizer step")->check(CLI::Range(1u, 65536u));
  cmd->add_option(both("warmup_steps"), o->warmup_steps, "Linear warm-up steps");
  cmd->add_option(both("warmup_ratio"), o->warmup_ratio, "Warm-up as a fraction of the steps (when --warmup_steps is 0)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option(both("lr_scheduler_type"), o->lr_scheduler_type, "linear, cosine, constant or constant_with_warmup")
      ->check(CLI::IsMember({"linear", "cosine", "constant", "constant_with_warmup"}));
  cmd->add_option(both("weight_decay"), o->weight_decay, "AdamW weight decay");
  cmd->add_option(both("adam_beta1"), o->adam_beta1, "AdamW beta1");
  cmd->add_option(both("adam_beta2"), o->adam_beta2, "AdamW beta2");
  cmd->add_option(both("adam_epsilon"), o->adam_epsilon, "AdamW epsilon");
  cmd->add_option(both("max_grad_norm"), o->max_grad_norm, "Clip the gradient norm to this (0: no clipping)");
  cmd->add_option(both("optim"), o->optim, "Optimizer: adamw_torch")->check(CLI::IsMember({"adamw_torch", "adamw_torch_fused"}));
  cmd->add_option(both("max_seq_length") + ",--max_length,--max-length", o->max_seq_length, "Longest training sequence in tokens (longer records are cut)")->check(CLI::Range(uint64_t{2}, uint64_t{1} << 20));
  cmd->add_option(both("seed"), o->seed, "Seed of A's initialisation, the data order, the split and dropout");
  cmd->add_option(both("logging_steps"), o->logging_steps, "Log (training_log.jsonl, stdout) every N steps")->check(CLI::PositiveNumber);
  cmd->add_option(both("save_steps"), o->save_steps, "Write checkpoint-N/ every N steps (0: never)");
  cmd->add_option(both("eval_steps"), o->eval_steps, "Evaluate every N steps (default: logging_steps)");
  cmd->add_flag(both("gradient_checkpointing"), o->gradient_checkpointing, "Recompute each block in backward instead of keeping its activations");
  cmd->add_flag("--bf16", o->bf16, "Frozen matmuls in bfloat16 (adapter, optimizer and loss stay f32)");
  cmd->add_flag(both("train_on_prompt"), o->train_on_prompt, "Train on the prompt tokens too (default: completion only)");
  cmd->add_flag("--packing", o->packing, "Pack several records per row (attention never crosses records)");
  cmd->add_flag("--no-shuffle,--no_shuffle", o->no_shuffle, "Train on the records in file order");
  cmd->add_option("--nproc,--nproc_per_node,--nproc-per-node", *nproc, "Data-parallel worker processes on this machine (c10d Gloo)")->check(CLI::Range(1u, 256u));
  add_device_option(cmd, "--device", o->device, "Where to train (cuda: a libtorch with CUDA; the frozen weights dequantized by ckpt's CUDA kernels)");
  cmd->add_option("-t,--threads", o->threads, "Threads per process (default: the cores divided among the processes)")->check(CLI::Range(1u, 1024u));
  cmd->add_flag("--no-progress", *no_progress, "No progress bar");
  cmd->add_flag("--json", *json, "Print the run's report (steps, losses, tokens, time) as JSON on stdout; log lines go to stderr");
  cmd->callback([o, nproc, no_progress, json] {
    o->progress = !*no_progress && progress_wanted();
    if (const std::string why = runtime::trainer_unavailable_reason(); !why.empty()) {
      throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "finetune", why);
    }
    if (*nproc > 1 && std::getenv("RANK") == nullptr) {
      const int status = runtime::launch_local_workers(*nproc, own_argv());
      if (status != 0) throw Error(ErrorCode::InvalidArgument, o->output, Error::kNoOffset, "--nproc", fmt::format("a worker failed (exit status {})", status));
      return;
    }
    if (*json) o->print = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    const runtime::FinetuneReport r = runtime::finetune(*o);
    if (*json && (std::getenv("RANK") == nullptr || std::string(std::getenv("RANK")) == "0")) {
      const nlohmann::ordered_json j = {{"output", o->output}, {"steps", r.steps}, {"first_loss", r.first_loss}, {"last_loss", r.last_loss},
                                        {"final_eval_loss", r.final_eval_loss < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.final_eval_loss)},
                                        {"trained_tokens", r.trained_tokens}, {"seconds", r.seconds}, {"device", r.device}};
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    }
  });
}

}  // namespace ckpt::cli
