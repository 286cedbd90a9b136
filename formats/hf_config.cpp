#include "formats/hf_config.h"

#include "formats/error.h"
#include "formats/json_header.h"
#include "formats/mapped_file.h"

namespace ckpt {

JsonFile JsonFile::read(const std::string& path) {
  const auto file = MappedFile::open(path);
  return from_text(path, std::string(reinterpret_cast<const char*>(file->bytes().data()), file->size()));
}

JsonFile JsonFile::from_text(std::string path, std::string text) {
  JsonFile f;
  f.path_ = std::move(path);
  f.text_ = std::move(text);
  f.json_ = parse_json_strictly(f.text_, f.path_, 0, "json");
  if (!f.json_.is_object()) throw Error(ErrorCode::BadJson, f.path_, 0, "json", "top level is not a JSON object");
  return f;
}

JsonFile JsonFile::with_text_config() const {
  const auto it = json_.find("text_config");
  if (it == json_.end() || !it->is_object()) return *this;
  JsonFile f = *this;
  for (const auto& [key, value] : it->items()) f.json_[key] = value;
  return f;
}

void JsonFile::fail(const std::string& key, const std::string& detail) const { fail(key, detail, ErrorCode::BadJson); }

void JsonFile::fail(const std::string& key, const std::string& detail, ErrorCode code) const {
  throw Error(code, path_, locate_json_key(text_, key, 0), key, detail);
}

bool JsonFile::has(const std::string& key) const {
  const auto it = json_.find(key);
  return it != json_.end() && !it->is_null();
}

std::optional<uint64_t> JsonFile::opt_u64(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = json_.at(key);
  if (!v.is_number_unsigned()) fail(key, "expected a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

uint64_t JsonFile::u64(const std::string& key) const {
  const auto v = opt_u64(key);
  if (!v) fail(key, "missing");
  return *v;
}

std::optional<double> JsonFile::opt_f64(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = json_.at(key);
  if (!v.is_number()) fail(key, "expected a number, got " + v.dump());
  return v.get<double>();
}

double JsonFile::f64(const std::string& key, double fallback) const { return opt_f64(key).value_or(fallback); }

std::optional<std::string> JsonFile::opt_str(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = json_.at(key);
  if (!v.is_string()) fail(key, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

std::string JsonFile::str(const std::string& key) const {
  const auto v = opt_str(key);
  if (!v) fail(key, "missing");
  return *v;
}

bool JsonFile::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = json_.at(key);
  if (!v.is_boolean()) fail(key, "expected true or false, got " + v.dump());
  return v.get<bool>();
}

uint64_t JsonFile::first_u64(const std::vector<std::string>& keys) const {
  for (const auto& k : keys) {
    if (has(k)) return u64(k);
  }
  std::string names;
  for (const auto& k : keys) names += (names.empty() ? "" : " / ") + k;
  fail(keys.front(), "missing (looked for " + names + ")");
}

}  // namespace ckpt
