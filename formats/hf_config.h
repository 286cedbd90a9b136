// Typed access to an HF JSON file (config.json, tokenizer_config.json, ...): every missing or mistyped
// key is an Error naming the file, the key's offset and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/error.h"

namespace ckpt {

class JsonFile {
 public:
  // Reads and strictly parses `path` (UTF-8, no duplicate keys, nesting capped).
  static JsonFile read(const std::string& path);
  static JsonFile from_text(std::string path, std::string text);
  // A multimodal config's text model seen as the top level ({**config, **text_config}, as
  // convert_hf_to_gguf reads it); the same file when there is no text_config. Errors still point into
  // the file's text.
  JsonFile with_text_config() const;

  const std::string& path() const { return path_; }
  const nlohmann::ordered_json& json() const { return json_; }
  bool has(const std::string& key) const;

  uint64_t u64(const std::string& key) const;
  std::optional<uint64_t> opt_u64(const std::string& key) const;
  double f64(const std::string& key, double fallback) const;
  std::optional<double> opt_f64(const std::string& key) const;
  std::string str(const std::string& key) const;
  std::optional<std::string> opt_str(const std::string& key) const;
  bool boolean(const std::string& key, bool fallback) const;
  // First of `keys` present (config spellings differ: num_hidden_layers / n_layer / n_layers).
  uint64_t first_u64(const std::vector<std::string>& keys) const;

  [[noreturn]] void fail(const std::string& key, const std::string& detail) const;
  [[noreturn]] void fail(const std::string& key, const std::string& detail, ErrorCode code) const;

 private:
  std::string path_;
  std::string text_;
  nlohmann::ordered_json json_;
};

}  // namespace ckpt
