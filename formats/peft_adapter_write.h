// Writes a LoRA adapter as PEFT saves one (save_pretrained): adapter_config.json with the full field
// set PEFT emits (llama.cpp reads lora_alpha and base_model_name_or_path, Ollama lora_alpha as an
// integer when it is one, vLLM and TensorRT-LLM use_rslora), and adapter_model.safetensors with F32
// tensors under PEFT's key names (base_model.model.<module>.lora_{A,B}.weight, nn.Linear layout: A
// [r, in], B [out, r]) and the metadata {"format": "pt"}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ckpt {

struct PeftLoraModule {
  std::string module;  // HF module name: "model.layers.0.self_attn.q_proj"
  uint64_t rows = 0, cols = 0;
  uint32_t r = 0;
  std::vector<float> a;  // [r, cols]
  std::vector<float> b;  // [rows, r], rows in the HF checkpoint's order
};

struct PeftLoraConfig {
  std::string base_model_name_or_path;
  uint32_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0;
  std::vector<std::string> target_modules;  // module names as LoraConfig takes them ("q_proj")
  bool use_rslora = false;
  bool fan_in_fan_out = false;  // GPT-2's Conv1D
  std::string task_type = "CAUSAL_LM";
};

nlohmann::ordered_json peft_adapter_config(const PeftLoraConfig& config);

// Writes the two files into `dir` (each through a temporary name). Throws Error naming the module
// whose A or B size disagrees with its shape.
void write_peft_adapter(const std::string& dir, const PeftLoraConfig& config, const std::vector<PeftLoraModule>& modules);

}  // namespace ckpt
