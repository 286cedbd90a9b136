// A LoRA adapter as the math sees it: every adapted module with its A and B (and DoRA magnitude, LoRA
// bias), its own rank, alpha and scale, plus the full tensors the adapter replaces (modules_to_save,
// trained biases). Reads PEFT directories (safetensors or .bin, every key spelling PEFT has used) and
// llama.cpp GGUF LoRA files. Module names are the base checkpoint's: HF names for PEFT
// ("model.layers.0.self_attn.q_proj"), GGUF names for GGUF adapters ("blk.0.attn_q").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "formats/model_source.h"

namespace ckpt {

struct LoraModule {
  std::string module;         // base module name, without ".weight"
  bool embedding = false;     // lora_embedding_A [r, vocab] / lora_embedding_B [dim, r]: delta = (B A)^T
  const SourceTensor* a = nullptr;          // [r, in]
  const SourceTensor* b = nullptr;          // [out, r]
  const SourceTensor* magnitude = nullptr;  // DoRA: [out]
  const SourceTensor* bias = nullptr;       // lora_B.bias [out] (lora_bias)
  uint64_t r = 0;
  double alpha = 0;
  double scale = 1;            // alpha/r, alpha/sqrt(r) (rsLoRA), per module after the patterns
  bool fan_in_fan_out = false;  // from the config (Conv1D bases force it, as PEFT does)
  bool gguf_layout = false;     // GGUF adapter: B's rows already in GGUF order (Q/K permuted)

  // The base weight's [rows, cols] in PyTorch Linear terms: [out, in]; embeddings [vocab, dim].
  uint64_t out_features() const;
  uint64_t in_features() const;
};

// A full tensor the adapter carries: a modules_to_save copy or a trained bias, under the base's name.
struct LoraFullTensor {
  std::string name;  // base tensor name ("lm_head.weight", "model.layers.0.self_attn.q_proj.bias")
  const SourceTensor* tensor = nullptr;
};

struct LoraAdapter {
  ModelSource source;  // owns the tensors the pointers below refer to; do not copy after open
  AdapterInfo info;
  bool gguf = false;  // llama.cpp GGUF LoRA (names are GGUF names)
  std::string gguf_architecture;
  std::vector<LoraModule> modules;
  std::vector<LoraFullTensor> full;
  uint64_t n_parameters = 0;

  const LoraModule* find(const std::string& module) const;
};

// Opens a PEFT adapter directory or a GGUF LoRA file. Throws Error naming the file, offset and key
// for unknown key shapes, A/B pairs that do not fit (missing half, ranks that disagree with the
// config), or variants ckpt does not implement (layer_replication, non-LoRA PEFT types).
std::unique_ptr<LoraAdapter> open_lora_adapter(const std::string& path);

// PEFT's base-module name for an adapter key: strips "base_model.model.", the adapter name
// (".default"), "modules_to_save.default." and "base_layer."; exposed for tests.
std::string peft_key_to_base_name(const std::string& key);

}  // namespace ckpt
