// GGUF -> InspectReport: KVs with offsets, tensor table, llama.cpp architecture keys.
#include <fmt/format.h>

#include "formats/gguf.h"
#include "formats/gguf_split.h"
#include "formats/model_source.h"
#include "formats/utf8.h"
#include "inspect/inspect_internal.h"

namespace ckpt {

namespace {

nlohmann::ordered_json array_to_json(const GgufArray& a, const InspectOptions& options) {
  const uint64_t shown = std::min<uint64_t>(a.count, options.full ? options.full_array_items : options.summary_array_items);
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (uint64_t i = 0; i < shown; ++i) {
    switch (a.element_type) {
      case GgufType::U8: items.push_back(a.at<uint8_t>(i)); break;
      case GgufType::I8: items.push_back(a.at<int8_t>(i)); break;
      case GgufType::U16: items.push_back(a.at<uint16_t>(i)); break;
      case GgufType::I16: items.push_back(a.at<int16_t>(i)); break;
      case GgufType::U32: items.push_back(a.at<uint32_t>(i)); break;
      case GgufType::I32: items.push_back(a.at<int32_t>(i)); break;
      case GgufType::F32: items.push_back(a.at<float>(i)); break;
      case GgufType::Bool: items.push_back(a.at<uint8_t>(i) != 0); break;
      case GgufType::String: items.push_back(std::string(a.string_at(i))); break;
      case GgufType::U64: items.push_back(a.at<uint64_t>(i)); break;
      case GgufType::I64: items.push_back(a.at<int64_t>(i)); break;
      case GgufType::F64: items.push_back(a.at<double>(i)); break;
      case GgufType::Array: break;
    }
  }
  if (shown == a.count) return items;
  return {{"element_type", gguf_type_name(a.element_type)}, {"count", a.count}, {"first", items}};
}

nlohmann::ordered_json value_to_json(const GgufValue& value, const InspectOptions& options) {
  return std::visit(
      [&](const auto& v) -> nlohmann::ordered_json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, GgufArrayBox>) {
          return array_to_json(v.get(), options);
        } else {
          return v;
        }
      },
      value.data);
}

// general.file_type uses llama_ftype numbering (llama.h), not ggml_ftype.
std::string file_type_name(uint64_t ftype) {
  static const std::map<uint64_t, std::string> kNames = {
      {0, "ALL_F32"},  {1, "MOSTLY_F16"},  {2, "MOSTLY_Q4_0"},   {3, "MOSTLY_Q4_1"},   {7, "MOSTLY_Q8_0"},
      {8, "MOSTLY_Q5_0"}, {9, "MOSTLY_Q5_1"}, {10, "MOSTLY_Q2_K"}, {11, "MOSTLY_Q3_K_S"}, {12, "MOSTLY_Q3_K_M"},
      {13, "MOSTLY_Q3_K_L"}, {14, "MOSTLY_Q4_K_S"}, {15, "MOSTLY_Q4_K_M"}, {16, "MOSTLY_Q5_K_S"},
      {17, "MOSTLY_Q5_K_M"}, {18, "MOSTLY_Q6_K"}, {19, "MOSTLY_IQ2_XXS"}, {20, "MOSTLY_IQ2_XS"},
      {21, "MOSTLY_Q2_K_S"}, {22, "MOSTLY_IQ3_XS"}, {23, "MOSTLY_IQ3_XXS"}, {24, "MOSTLY_IQ1_S"},
      {25, "MOSTLY_IQ4_NL"}, {26, "MOSTLY_IQ3_S"}, {27, "MOSTLY_IQ3_M"}, {28, "MOSTLY_IQ2_S"},
      {29, "MOSTLY_IQ2_M"}, {30, "MOSTLY_IQ4_XS"}, {31, "MOSTLY_IQ1_M"}, {32, "MOSTLY_BF16"},
      {36, "MOSTLY_TQ1_0"}, {37, "MOSTLY_TQ2_0"}, {1024, "GUESSED"}};
  const auto it = kNames.find(ftype);
  return it == kNames.end() ? fmt::format("unknown ({})", ftype) : fmt::format("{} ({})", it->second, ftype);
}

void summarize_architecture(const GgufFile& gguf, InspectReport& report) {
  const auto* arch = gguf.find_kv("general.architecture");
  if (!arch || !arch->value.as_string()) return;
  report.architecture = *arch->value.as_string();
  auto add = [&](const std::string& label, const std::string& key) {
    if (const auto* kv = gguf.find_kv(key); kv && !kv->value.is_array()) {
      report.architecture_fields.emplace_back(label, gguf_value_to_display(kv->value, 0));
      report.architecture_values[label] = value_to_json(kv->value, InspectOptions{});
    }
  };
  add("model name", "general.name");
  const std::string& a = report.architecture;
  add("layers", a + ".block_count");
  add("context length", a + ".context_length");
  add("hidden size", a + ".embedding_length");
  add("intermediate size", a + ".feed_forward_length");
  add("attention heads", a + ".attention.head_count");
  add("kv heads", a + ".attention.head_count_kv");
  add("rope dimensions", a + ".rope.dimension_count");
  add("rope theta", a + ".rope.freq_base");
  add("norm epsilon", a + ".attention.layer_norm_rms_epsilon");
  add("tokenizer", "tokenizer.ggml.model");
  if (const auto* tokens = gguf.find_kv("tokenizer.ggml.tokens"); tokens && tokens->value.is_array()) {
    report.architecture_fields.emplace_back("vocabulary", std::to_string(tokens->value.array().count));
  }
  if (const auto* ft = gguf.find_kv("general.file_type")) {
    if (const auto v = ft->value.as_u64()) report.architecture_fields.emplace_back("file type", file_type_name(*v));
  }
}

}  // namespace

void inspect_gguf(const std::string& path, const InspectOptions& options, InspectReport& report) {
  // Tensors of ggml types newer than ckpt are listed as "type N (unknown)" rather than refusing the file.
  GgufReadOptions read_options;
  read_options.allow_unknown_types = true;
  const GgufSet set = open_gguf_set(path, read_options);
  const GgufFile& gguf = set.main();
  report.format = set.shards.size() > 1 ? fmt::format("GGUF v{} ({} shards)", gguf.version, set.shards.size())
                                         : fmt::format("GGUF v{}", gguf.version);
  for (const auto& shard : set.shards) report.files.push_back(shard.file->path());
  report.properties = {{"alignment", std::to_string(gguf.alignment)},
                       {"data offset", std::to_string(gguf.data_offset)},
                       {"file size", std::to_string(gguf.file->size())}};
  for (const auto& kv : gguf.kvs) {
    MetadataRow row;
    row.key = kv.key;
    row.type = kv.value.is_array() ? fmt::format("arr[{}]", gguf_type_name(kv.value.array().element_type))
                                   : std::string(gguf_type_name(kv.value.type()));
    if (!options.text_only) row.json = value_to_json(kv.value, options);
    row.display = gguf_value_to_display(kv.value, options.full ? options.full_array_items : options.summary_array_items);
    // Strings are printed escaped; say so when the file's bytes were not UTF-8 (the spec requires it).
    if (const auto* str = kv.value.as_string(); str && find_invalid_utf8(*str) != std::string_view::npos) {
      row.display += "  [not valid UTF-8]";
      row.utf8_valid = false;
    }
    row.offset_in_file = kv.offset_in_file;
    report.metadata.push_back(std::move(row));
  }
  for (const auto& e : set.tensors) report.tensors.push_back({e.shard->tensor_info(*e.info), e.shard->file->path()});
  summarize_architecture(gguf, report);
  if (const auto* type = gguf.find_kv("general.type"); type && type->value.as_string() && *type->value.as_string() == "adapter") {
    const ModelSource source = open_model_source(path);
    if (source.adapter) {
      report.kind_name = std::string(source_kind_name(source.kind));
      add_adapter_fields(*source.adapter, report.total_parameters(), report);
    }
  }
}

}  // namespace ckpt
