// safetensors, sharded sets and HF checkpoint directories -> InspectReport.
#include <filesystem>

#include <fmt/format.h>

#include "formats/json_header.h"
#include "formats/mapped_file.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
#include "inspect/inspect_internal.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

void add_metadata(const Metadata& metadata, InspectReport& report) {
  for (const auto& [k, v] : metadata) {
    report.metadata.push_back({k, "str", "\"" + escape_for_display(v) + "\"", v, 0});
  }
}

}  // namespace

// config.json fields worth a line, in the order a reader wants them.
void summarize_hf_config(const std::string& config_path, InspectReport& report) {
  const auto file = MappedFile::open(config_path);
  const std::string_view text(reinterpret_cast<const char*>(file->bytes().data()), file->size());
  const auto config = parse_json_strictly(text, config_path, 0, "config.json");
  if (!config.is_object()) throw Error(ErrorCode::BadJson, config_path, 0, "config.json", "top level is not an object");
  if (const auto archs = config.find("architectures"); archs != config.end() && archs->is_array() && !archs->empty() &&
                                                       (*archs)[0].is_string()) {
    report.architecture = (*archs)[0].get<std::string>();
  } else if (const auto mt = config.find("model_type"); mt != config.end() && mt->is_string()) {
    report.architecture = mt->get<std::string>();
  }
  static const std::pair<const char*, const char*> kFields[] = {
      {"model type", "model_type"},
      {"layers", "num_hidden_layers"},
      {"hidden size", "hidden_size"},
      {"intermediate size", "intermediate_size"},
      {"attention heads", "num_attention_heads"},
      {"kv heads", "num_key_value_heads"},
      {"vocabulary", "vocab_size"},
      {"context length", "max_position_embeddings"},
      {"rope theta", "rope_theta"},
      {"norm epsilon", "rms_norm_eps"},
      {"tied embeddings", "tie_word_embeddings"},
      {"dtype", "torch_dtype"},
      // GPT-2 spellings
      {"layers", "n_layer"},
      {"hidden size", "n_embd"},
      {"attention heads", "n_head"},
      {"context length", "n_positions"},
  };
  for (const auto& [label, key] : kFields) {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null() || it->is_structured()) continue;
    report.architecture_fields.emplace_back(label, it->is_string() ? escape_for_display(it->get<std::string>()) : it->dump());
  }
}

void inspect_safetensors(const std::string& path, InspectReport& report) {
  const SafetensorsFile st = read_safetensors(path);
  report.format = "safetensors";
  report.files.push_back(path);
  report.properties = {{"header size", std::to_string(st.header_bytes)},
                       {"data offset", std::to_string(st.data_offset())},
                       {"file size", std::to_string(st.file->size())}};
  add_metadata(st.metadata, report);
  for (const auto& t : st.tensors) report.tensors.push_back({t, path});
}

void inspect_safetensors_index(const std::string& path, InspectReport& report) {
  const ShardedSafetensors set = read_safetensors_index(path);
  report.format = fmt::format("safetensors ({} shards)", set.shards.size());
  report.files.push_back(path);
  uint64_t total = 0;
  for (const auto& shard : set.shards) {
    report.files.push_back(shard.file->path());
  }
  for (const auto& e : set.tensors) {
    report.tensors.push_back({*e.info, e.shard->file->path()});
    total += e.info->n_bytes;
  }
  if (!set.shards.empty()) add_metadata(set.shards.front().metadata, report);
  report.properties = {{"shards", std::to_string(set.shards.size())},
                       {"declared total_size", std::to_string(set.declared_total_size)},
                       {"tensor bytes", std::to_string(total)}};
  if (set.declared_total_size != 0 && set.declared_total_size != total) {
    report.properties.emplace_back("warning", "index total_size differs from the tensor bytes in the shards");
  }
}

void inspect_hf_directory(const std::string& dir, InspectReport& report) {
  const std::string weights = find_hf_weights(dir);
  if (weights.ends_with(".index.json")) {
    inspect_safetensors_index(weights, report);
  } else {
    inspect_safetensors(weights, report);
  }
  report.format = "HF checkpoint, " + report.format;
  const fs::path config = fs::path(dir) / "config.json";
  if (fs::exists(config)) {
    report.files.insert(report.files.begin(), config.string());
    summarize_hf_config(config.string(), report);
  }
}

}  // namespace ckpt
