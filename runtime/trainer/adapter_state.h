// The trainable LoRA state of a run: creating it (PEFT's initialisation or an existing adapter),
// writing it as a PEFT adapter, and checkpoint directories (adapter + optimizer + trainer state)
// that `--resume` continues from exactly.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "runtime/trainer/torch_model.h"
#include "runtime/trainer/trainer.h"

namespace ckpt::runtime {

struct LoraSetup {
  std::vector<LoraParams> params;
  uint32_t r = 0;
  double alpha = 0;
  bool use_rslora = false;
  bool fan_in_fan_out = false;  // GPT-2's Conv1D weights, as PEFT records them
};

// A = kaiming_uniform(a = sqrt(5)) (U(-1/sqrt(in), 1/sqrt(in))) from `seed`, B = 0, as PEFT's
// reset_lora_parameters; with options.init_adapter, that adapter's r, alpha, targets and values.
LoraSetup create_lora(const Model& model, const FinetuneOptions& options, torch::Dtype dtype);

// Moves the adapter parameters to `device` (nothing to do on the CPU), as trainable leaves again.
void place_lora(std::vector<LoraParams>& params, const torch::Device& device);

// Copies the values of the PEFT adapter in `dir` into `setup` (same modules and ranks, else Error).
void load_lora_values(LoraSetup& setup, const std::string& dir);

// adapter_config.json + adapter_model.safetensors (B's rows back in HF order).
void write_lora(const LoraSetup& setup, const FinetuneOptions& options, const std::string& dir);

}  // namespace ckpt::runtime
