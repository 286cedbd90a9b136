// InspectReport -> aligned text table or JSON. Every name from a file is escaped before printing.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "formats/error.h"
#include "inspect/inspect.h"

namespace ckpt {

namespace {

std::string human_bytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", n) : fmt::format("{:.2f} {}", v, kUnits[unit]);
}

std::string with_commas(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

std::string render_inspect_text(const InspectReport& r) {
  std::string out = fmt::format("{}: {}\n", escape_for_display(r.path), r.format);
  for (const auto& [k, v] : r.properties) out += fmt::format("  {}: {}\n", k, v);
  if (!r.architecture.empty()) {
    out += fmt::format("architecture: {}\n", escape_for_display(r.architecture));
    size_t width = 0;
    for (const auto& f : r.architecture_fields) width = std::max(width, f.first.size());
    for (const auto& [k, v] : r.architecture_fields) out += fmt::format("  {:<{}}  {}\n", k, width, v);
  }
  if (!r.metadata.empty()) {
    out += fmt::format("metadata ({}):\n", r.metadata.size());
    size_t kw = 0, tw = 0;
    for (const auto& m : r.metadata) {
      kw = std::max(kw, escape_for_display(m.key).size());
      tw = std::max(tw, m.type.size());
    }
    for (const auto& m : r.metadata) {
      out += fmt::format("  {:<{}}  {:<{}}  {}\n", escape_for_display(m.key), kw, m.type, tw, m.display);
    }
  }
  out += fmt::format("tensors ({}):\n", r.tensors.size());
  if (!r.tensors.empty()) {
    std::vector<std::array<std::string, 5>> rows;
    rows.push_back({"name", "dtype", "shape", "offset", "bytes"});
    for (const auto& t : r.tensors) {
      rows.push_back({escape_for_display(t.info.name), tensor_type_name(t.info),
                      shape_to_string(t.info.shape), std::to_string(t.info.offset_in_file),
                      std::to_string(t.info.n_bytes)});
    }
    std::array<size_t, 5> w{};
    for (const auto& row : rows) {
      for (size_t c = 0; c < 5; ++c) w[c] = std::max(w[c], row[c].size());
    }
    const bool sharded = r.files.size() > 1 && r.tensors.front().file != r.tensors.back().file;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& row = rows[i];
      out += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}", row[0], w[0], row[1], w[1], row[2], w[2], row[3],
                         w[3], row[4], w[4]);
      if (sharded) out += "  " + (i == 0 ? std::string("file") : escape_for_display(r.tensors[i - 1].file));
      out += "\n";
    }
  }
  out += fmt::format("total: {} parameters, {} ({} bytes) in {} tensors\n", with_commas(r.total_parameters()),
                     human_bytes(r.total_bytes()), with_commas(r.total_bytes()), r.tensors.size());
  for (const auto& [dtype, t] : r.totals_by_dtype()) {
    out += fmt::format("  {:<8} {:>6} tensors  {:>16} parameters  {:>12}\n", dtype, t.tensors,
                       with_commas(t.parameters), human_bytes(t.bytes));
  }
  return out;
}

namespace {

// "context length" -> "context_length": one spelling of each key for every format.
std::string snake_case(const std::string& label) {
  std::string out;
  for (const char c : label) out += (c == ' ' || c == '-') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The typed value of a displayed field: integers and decimals as numbers, true/false as booleans, a
// quoted GGUF string without its quotes, anything else as the text it is.
nlohmann::ordered_json typed(const std::string& text) {
  if (text == "true" || text == "false") return text == "true";
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') return text.substr(1, text.size() - 2);
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos && text.size() < 20) return std::stoull(text);
  if (!text.empty() && text.find_first_not_of("0123456789.eE+-") == std::string::npos) {
    try {
      size_t used = 0;
      const double v = std::stod(text, &used);
      if (used == text.size() && std::isfinite(v)) return v;
    } catch (const std::exception&) {
    }
  }
  return text;
}

}  // namespace

nlohmann::ordered_json render_inspect_json(const InspectReport& r) {
  nlohmann::ordered_json j;
  j["path"] = r.path;
  j["kind"] = r.kind_name.empty() ? std::string(file_kind_name(r.kind)) : r.kind_name;
  j["format"] = r.format;
  j["files"] = r.files;
  auto& props = j["properties"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : r.properties) props[snake_case(k)] = typed(v);
  if (!r.architecture.empty()) {
    // name: the architecture (GGUF general.architecture, HF architectures[0]); model_name: general.name.
    j["architecture"] = {{"name", r.architecture}};
    for (const auto& [k, v] : r.architecture_fields) {
      const auto raw = r.architecture_values.find(k);
      j["architecture"][snake_case(k)] = raw != r.architecture_values.end() ? raw->second : typed(v);
    }
  }
  auto& meta = j["metadata"] = nlohmann::ordered_json::array();
  for (const auto& m : r.metadata) {
    nlohmann::ordered_json row = {{"key", m.key}, {"type", m.type}, {"value", m.json}};
    if (!m.utf8_valid) row["utf8_valid"] = false;
    if (m.offset_in_file) row["offset"] = m.offset_in_file;
    meta.push_back(std::move(row));
  }
  auto& tensors = j["tensors"] = nlohmann::ordered_json::array();
  for (const auto& t : r.tensors) {
    tensors.push_back({{"name", t.info.name},
                       {"dtype", tensor_type_name(t.info)},
                       {"shape", t.info.shape},
                       {"offset", t.info.offset_in_file},
                       {"n_bytes", t.info.n_bytes},
                       {"file", t.file}});
  }
  auto& totals = j["totals"];
  totals["tensors"] = r.tensors.size();
  totals["parameters"] = r.total_parameters();
  totals["bytes"] = r.total_bytes();
  auto& by = totals["by_dtype"] = nlohmann::ordered_json::object();
  for (const auto& [dtype, t] : r.totals_by_dtype()) {
    by[dtype] = {{"tensors", t.tensors}, {"parameters", t.parameters}, {"bytes", t.bytes}};
  }
  return j;
}

nlohmann::ordered_json render_inspect_error_json(const std::string& path, const Error& e) {
  nlohmann::ordered_json err = {{"code", std::string(error_code_name(e.code()))}, {"file", e.file()}, {"field", e.field()}, {"message", e.detail()}};
  err["offset"] = e.offset() == Error::kNoOffset ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.offset());
  return {{"path", path}, {"error", err}};
}

nlohmann::ordered_json inspect_json_document(nlohmann::ordered_json results) {
  return {{"schema_version", kInspectJsonSchemaVersion},
          {"shape_order", "outermost first (PyTorch order; GGUF ne reversed)"},
          {"results", std::move(results)}};
}

}  // namespace ckpt
