// Public header of ckpt::inspect: what is inside a model file, for humans (text) and machines (JSON).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/detect.h"
#include "formats/tensor.h"

namespace ckpt {

class Error;

struct InspectOptions {
  bool full = false;               // print whole arrays (tokenizer vocabularies) instead of a summary
  size_t summary_array_items = 8;  // elements shown of a long array when !full
  // Even --full shows at most this many elements of one array: a 100 MiB array printed whole took
  // 51 s and 3.5 GB. The rest is counted, not printed.
  size_t full_array_items = size_t{1} << 20;
  bool text_only = false;          // leave MetadataRow::json empty (the CLI's text output never reads it)
};

struct MetadataRow {
  std::string key;
  std::string type;            // "str", "u32", "arr[str]", ... ("str" for safetensors __metadata__)
  std::string display;         // one line, summarized unless full
  nlohmann::ordered_json json; // the value (arrays summarized unless full)
  uint64_t offset_in_file = 0; // GGUF: where the KV starts; 0 when not meaningful
  bool utf8_valid = true;      // false: a string whose bytes are not UTF-8 (shown escaped)
};

struct TensorRow {
  TensorInfo info;   // shape outermost first, absolute offset
  std::string file;  // the file holding the data (shards differ)
};

struct DTypeTotals {
  uint64_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t bytes = 0;
};

struct InspectReport {
  std::string path;
  FileKind kind = FileKind::Unknown;
  std::string kind_name;           // overrides file_kind_name(kind) in JSON (torch-bin, llama2c, peft-adapter, ...)
  std::string format;              // "GGUF v3", "safetensors", "safetensors (3 shards)", ...
  std::vector<std::string> files;  // files read
  std::vector<std::pair<std::string, std::string>> properties;  // alignment, data offset, header size...
  std::string architecture;                                      // empty when unknown
  std::vector<std::pair<std::string, std::string>> architecture_fields;
  // JSON values of architecture fields whose display text is escaped or summarized (a GGUF string):
  // the value itself, by label; the others are typed from their text.
  std::map<std::string, nlohmann::ordered_json> architecture_values;
  std::vector<MetadataRow> metadata;
  std::vector<TensorRow> tensors;

  uint64_t total_parameters() const;
  uint64_t total_bytes() const;
  std::map<std::string, DTypeTotals> totals_by_dtype() const;
};

// Reads `path` (format sniffed: GGUF, safetensors, a sharded index, or an HF checkpoint directory),
// fully validating it. Throws ckpt::Error; a Git LFS pointer is reported as Error(LfsPointer).
InspectReport inspect_path(const std::string& path, const InspectOptions& options);

std::string render_inspect_text(const InspectReport& report);

// `inspect --json`, schema 2: {"schema_version": 2, "shape_order": ..., "results": [one per path]}; each
// result is render_inspect_json's object (snake_case keys, numbers and booleans typed, the same key
// meaning the same thing for every format: architecture.name is the architecture, model_name general.name)
// or, for a path that could not be read, {"path", "error": {"code", "file", "offset", "field", "message"}}.
inline constexpr int kInspectJsonSchemaVersion = 2;
nlohmann::ordered_json render_inspect_json(const InspectReport& report);
nlohmann::ordered_json render_inspect_error_json(const std::string& path, const Error& error);
nlohmann::ordered_json inspect_json_document(nlohmann::ordered_json results);

}  // namespace ckpt
