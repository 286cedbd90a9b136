// `ckpt run --lora ADAPTER[:SCALE]`: LoRA / DoRA adapters (PEFT directories or GGUF LoRA files) applied
// at run time on top of any weight type, with PEFT's per-module scales times the user's scale.
// The result equals the merged model's logits within f32 rounding.
#pragma once

#include <string>
#include <vector>

#include "runtime/model.h"

namespace ckpt::runtime {

struct LoraSpec {
  std::string path;
  double scale = 1.0;
};

// Attaches every adapter to the model's weights (and adds LoRA biases). Throws Error naming the module
// for what run time cannot apply (modules_to_save, embedding LoRA, DoRA on bitsandbytes weights or
// mixed with other adapters), with the advice to merge instead, and for modules the model lacks.
void attach_lora(Model& model, const std::vector<LoraSpec>& adapters);

}  // namespace ckpt::runtime
