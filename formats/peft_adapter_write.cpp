#include "formats/peft_adapter_write.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "formats/byte_sink.h"
#include "formats/error.h"
#include "formats/safetensors.h"

namespace ckpt {

nlohmann::ordered_json peft_adapter_config(const PeftLoraConfig& c) {
  using json = nlohmann::ordered_json;
  // An integral alpha is written as an integer: Ollama reads lora_alpha as uint32.
  const json alpha = c.lora_alpha == std::floor(c.lora_alpha) && std::abs(c.lora_alpha) < 1e15 ? json(static_cast<int64_t>(c.lora_alpha)) : json(c.lora_alpha);
  // Keys in the order PEFT's save_pretrained writes them (sorted).
  return json{{"alpha_pattern", json::object()},
              {"auto_mapping", nullptr},
              {"base_model_name_or_path", c.base_model_name_or_path},
              {"bias", "none"},
              {"corda_config", nullptr},
              {"eva_config", nullptr},
              {"exclude_modules", nullptr},
              {"fan_in_fan_out", c.fan_in_fan_out},
              {"inference_mode", true},
              {"init_lora_weights", true},
              {"layer_replication", nullptr},
              {"layers_pattern", nullptr},
              {"layers_to_transform", nullptr},
              {"loftq_config", json::object()},
              {"lora_alpha", alpha},
              {"lora_bias", false},
              {"lora_dropout", c.lora_dropout},
              {"megatron_config", nullptr},
              {"megatron_core", "megatron.core"},
              {"modules_to_save", nullptr},
              {"peft_type", "LORA"},
              {"peft_version", "0.17.0"},  // the config schema these fields follow
              {"r", c.r},
              {"rank_pattern", json::object()},
              {"revision", nullptr},
              {"target_modules", c.target_modules},
              {"task_type", c.task_type},
              {"use_dora", false},
              {"use_rslora", c.use_rslora}};
}

void write_peft_adapter(const std::string& dir, const PeftLoraConfig& config, const std::vector<PeftLoraModule>& modules) {
  namespace fs = std::filesystem;
  const std::string weights = (fs::path(dir) / "adapter_model.safetensors").string();
  std::vector<TensorToWrite> tensors;
  for (const auto& m : modules) {
    if (m.a.size() != uint64_t{m.r} * m.cols || m.b.size() != m.rows * m.r) {
      throw Error(ErrorCode::SizeMismatch, weights, Error::kNoOffset, m.module,
                  fmt::format("A has {} values for [{}, {}], B {} for [{}, {}]", m.a.size(), m.r, m.cols, m.b.size(), m.rows, m.r));
    }
    auto values = [](const std::vector<float>& v) { return write_bytes_from(std::as_bytes(std::span(v))); };
    const std::string key = "base_model.model." + m.module;
    tensors.push_back({key + ".lora_A.weight", DType::F32, {m.r, m.cols}, values(m.a)});
    tensors.push_back({key + ".lora_B.weight", DType::F32, {m.rows, m.r}, values(m.b)});
  }
  write_safetensors(weights, std::move(tensors), {{"format", "pt"}});
  write_text_file((fs::path(dir) / "adapter_config.json").string(), peft_adapter_config(config).dump(2) + "\n");
}

}  // namespace ckpt
