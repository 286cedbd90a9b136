// Which weights of a loaded model a LoRA adapter trains, under the names PEFT gives them. Torch-free:
// the trainer attaches parameters to these, and the adapter writer names them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/architecture.h"
#include "runtime/model.h"

namespace ckpt::runtime {

struct LoraTarget {
  const Weight* weight = nullptr;
  uint32_t layer = 0;        // the output head: n_layer
  std::string module;        // HF module name ("model.layers.0.self_attn.q_proj")
  std::string short_name;    // its last component ("q_proj"), what target_modules lists
  TensorOp op = TensorOp::None;
  uint64_t row_heads = 0;    // > 0: the weight's rows are the GGUF permutation of HF's (heads_for_rows)
};

// `requested`: module names (PEFT matches the name's last components: "q_proj", "self_attn.q_proj"),
// empty for the attention projections (q, k, v, o — fused or not), or {"all-linear"} for every linear
// layer of the blocks (the output head only when named: "lm_head", as PEFT does). Throws Error naming --target_modules
// and the names the model has when a requested name matches nothing.
std::vector<LoraTarget> select_lora_targets(const Model& model, const std::vector<std::string>& requested);

// HF row of the weight's row `row` (identity unless the base is a GGUF with permuted Q/K rows).
uint64_t hf_row_of(const LoraTarget& target, uint64_t row);

}  // namespace ckpt::runtime
