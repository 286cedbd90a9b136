// Inputs read through the model-source layer that have no format-specific view of their own:
// pytorch .bin files and directories, llama2.c checkpoints, PEFT adapter directories.
#include <filesystem>

#include <fmt/format.h>

#include <map>

#include "formats/lora_adapter.h"
#include "formats/model_source.h"
#include "inspect/inspect_internal.h"

namespace ckpt {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + escape_for_display(s);
  return out.empty() ? "(none)" : out;
}

}  // namespace

void add_adapter_fields(const AdapterInfo& a, uint64_t parameters, InspectReport& report) {
  report.architecture = "LoRA adapter";
  auto add = [&](const char* label, std::string value) { report.architecture_fields.emplace_back(label, std::move(value)); };
  add("peft type", escape_for_display(a.peft_type));
  if (!a.base_model.empty()) add("base model", escape_for_display(a.base_model));
  add("r", std::to_string(a.r));
  add("lora_alpha", fmt::format("{}", a.lora_alpha));
  add("scale", fmt::format("{} ({})", a.scale(),
                           a.gguf && a.lora_alpha == 0 ? "adapter.lora.alpha 0: scales are folded into lora_b"
                           : a.use_rslora             ? "lora_alpha / sqrt(r), rsLoRA"
                                                      : "lora_alpha / r"));
  add("target modules", join(a.target_modules));
  add("fan_in_fan_out", a.fan_in_fan_out ? "true" : "false");
  add("DoRA", a.use_dora ? "true" : "false");
  add("modules_to_save", join(a.modules_to_save));
  if (!a.rank_pattern.empty() || !a.alpha_pattern.empty()) {
    std::vector<std::string> patterns;
    for (const auto& [p, r] : a.rank_pattern) patterns.push_back(fmt::format("r[{}]={}", p, r));
    for (const auto& [p, v] : a.alpha_pattern) patterns.push_back(fmt::format("alpha[{}]={}", p, v));
    add("patterns", join(patterns));
  }
  if (a.bias != "none" || a.lora_bias) add("bias", fmt::format("{}{}", a.bias, a.lora_bias ? ", lora_bias" : ""));
  if (!a.layers_to_transform.empty()) {
    std::vector<std::string> layers;
    for (auto l : a.layers_to_transform) layers.push_back(std::to_string(l));
    add("layers_to_transform", join(layers));
  }
  add("parameters", std::to_string(parameters));
}

// The scale each adapted module gets (patterns make them differ), grouped by value.
void add_module_scales(const LoraAdapter& adapter, InspectReport& report) {
  std::map<std::pair<uint64_t, double>, std::vector<std::string>> groups;
  for (const auto& m : adapter.modules) groups[{m.r, m.scale}].push_back(m.module);
  std::vector<std::string> parts;
  for (const auto& [key, modules] : groups) {
    parts.push_back(fmt::format("r={} scale={} on {} module{}{}", key.first, key.second, modules.size(), modules.size() == 1 ? "" : "s",
                                groups.size() > 1 && modules.size() <= 3 ? " (" + join(modules) + ")" : ""));
  }
  report.architecture_fields.emplace_back("modules", join(parts));
  if (!adapter.full.empty()) {
    std::vector<std::string> full;
    for (const auto& f : adapter.full) full.push_back(f.name);
    report.architecture_fields.emplace_back("full tensors", join(full));
  }
}

void inspect_model_source(const std::string& path, InspectReport& report) {
  const ModelSource source = open_model_source(path);
  report.format = source.format;
  report.kind_name = std::string(source_kind_name(source.kind));
  report.files = source.weight_files;
  if (source.config_path) report.files.insert(report.files.begin(), *source.config_path);
  if (source.adapter && !source.adapter->config_path.empty()) report.files.insert(report.files.begin(), source.adapter->config_path);
  for (const auto& t : source.all_tensors) {
    const TensorInfo info{t.name, t.dtype, t.shape, t.offset_in_file(), t.data.size()};
    report.tensors.push_back({info, t.file ? t.file->path() : path});
  }
  if (source.adapter) {
    add_adapter_fields(*source.adapter, report.total_parameters(), report);
    add_module_scales(*open_lora_adapter(path), report);
  }
  if (!source.llama2c_header.empty()) {
    report.architecture = "llama2.c (llama)";
    for (const auto& [k, v] : source.llama2c_header) report.architecture_fields.emplace_back(k, std::to_string(v));
  }
  if (source.config_path) summarize_hf_config(*source.config_path, report);
}

}  // namespace ckpt
