#include "inspect/diff.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "formats/architecture.h"
#include "formats/error.h"
#include "formats/hf_config.h"
#include "formats/model_source.h"
#include "formats/permute.h"
#include "quantize/quantize.h"

namespace ckpt {
namespace {

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::function<std::vector<float>()> values;  // empty: no float form
  std::span<const std::byte> bytes;            // raw bytes, for types without float values
};

struct Side {
  std::string path;
  bool gguf_names = false;
  std::optional<nlohmann::ordered_json> config;  // HF config.json, when there is one
  std::vector<Entry> entries;
  std::shared_ptr<const void> keep;       // the opened source or archive
};

Side open_side(const std::string& path, unsigned threads) {
  Side s;
  s.path = path;
  auto src = std::make_shared<ModelSource>(open_model_source(path));
  s.keep = src;
  s.gguf_names = src->kind == SourceKind::Gguf;
  if (src->config_path) {
    s.config = JsonFile::read(*src->config_path).json();
  }
  for (const auto& t : src->tensors) {
    Entry e{t.name, t.dtype, t.shape, {}, t.data};
    if (t.decode || can_dequantize_from(t.dtype) || t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16) {
      e.values = [&t, threads] { return decode_tensor_values(t, threads); };
    }
    s.entries.push_back(std::move(e));
  }
  return s;
}

// How B's element for A's (row, col) is found when A is HF and B is its GGUF (or the same layout).
struct Mapping {
  std::string b_name;
  TensorOp op = TensorOp::None;
  uint64_t heads = 0;
};

}  // namespace

bool DiffReport::equal(double tol) const {
  if (!only_a.empty() || !only_b.empty()) return false;
  for (const auto& t : common) {
    if (!t.compared || t.max_abs > tol) return false;
  }
  return true;
}

DiffReport diff_models(const std::string& path_a, const std::string& path_b, unsigned threads) {
  Side a = open_side(path_a, threads), b = open_side(path_b, threads);
  // HF on one side, GGUF on the other: put the HF side first and map its names.
  bool swapped = false;
  if (a.gguf_names && !b.gguf_names) std::swap(a, b), swapped = true;
  const bool cross = !a.gguf_names && b.gguf_names;
  const Architecture* arch = nullptr;
  uint64_t n_head = 0, n_head_kv = 0;
  if (cross) {
    if (!a.config || !a.config->contains("architectures") || !(*a.config)["architectures"].is_array() || (*a.config)["architectures"].empty()) {
      throw Error(ErrorCode::NotFound, a.path, Error::kNoOffset, "config.json", "comparing with a GGUF needs the HF side's architectures");
    }
    const std::string name = (*a.config)["architectures"][0].get<std::string>();
    arch = find_architecture(name);
    if (!arch) throw Error(ErrorCode::Unsupported, a.path, Error::kNoOffset, "architectures", "'" + name + "' has no name table to match GGUF tensors with");
    const nlohmann::ordered_json& c = a.config->contains("text_config") ? (*a.config)["text_config"] : *a.config;
    n_head = c.value("num_attention_heads", uint64_t{0});
    n_head_kv = c.value("num_key_value_heads", n_head);
  }
  std::map<std::string, const Entry*> by_b;
  for (const auto& e : b.entries) by_b[e.name] = &e;
  DiffReport r;
  r.a = swapped ? path_b : path_a;
  r.b = swapped ? path_a : path_b;
  std::map<std::string, bool> used_b;
  for (const auto& ea : a.entries) {
    Mapping m{ea.name};
    if (cross) {
      const auto mapped = map_tensor_name(*arch, ea.name);
      if (!mapped) {
        (swapped ? r.only_b : r.only_a).push_back(ea.name);
        continue;
      }
      m.b_name = mapped->gguf_name;
      m.op = mapped->op;
      m.heads = heads_for_rows(m.op, n_head, n_head_kv);
    }
    const auto it = by_b.find(m.b_name);
    if (it == by_b.end()) {
      (swapped ? r.only_b : r.only_a).push_back(ea.name);
      continue;
    }
    used_b[m.b_name] = true;
    const Entry& eb = *it->second;
    TensorDiff d;
    d.name = ea.name;
    d.name_b = eb.name;
    d.dtype_a = std::string(dtype_name(ea.dtype));
    d.dtype_b = std::string(dtype_name(eb.dtype));
    d.shape_a = ea.shape;
    d.shape_b = eb.shape;
    std::vector<uint64_t> expect_b = ea.shape;
    if (m.op == TensorOp::Transpose && expect_b.size() == 2) std::swap(expect_b[0], expect_b[1]);
    if (expect_b != eb.shape) {
      d.note = "shapes differ";
    } else if (!ea.values || !eb.values) {
      d.note = ea.dtype == eb.dtype && std::equal(ea.bytes.begin(), ea.bytes.end(), eb.bytes.begin(), eb.bytes.end()) ? "no float values; bytes identical"
                                                                                                                      : "no float values; bytes differ";
      d.compared = d.note.ends_with("identical");
    } else {
      const std::vector<float> va = ea.values(), vb = eb.values();
      const uint64_t rows = ea.shape.empty() ? 1 : ea.shape[0], cols = rows ? va.size() / rows : 0;
      // B's index of A's element (r, c).
      auto b_index = [&](uint64_t row, uint64_t col) -> uint64_t {
        switch (m.op) {
          case TensorOp::Transpose: return col * rows + row;
          case TensorOp::PermuteQ:
          case TensorOp::PermuteK:
          case TensorOp::NeoxQkv: return gguf_row_for(m.op, row, rows, m.heads) * cols + col;
          default: return row * cols + col;
        }
      };
      const double add = m.op == TensorOp::AddOne ? 1.0 : 0.0;  // llama.cpp stores Gemma's norms as 1 + w
      double dot = 0, na = 0, nb = 0, diff2 = 0;
      for (uint64_t row = 0; row < rows; ++row) {
        for (uint64_t col = 0; col < cols; ++col) {
          const double x = va[row * cols + col] + add, y = vb[b_index(row, col)];
          const double dd = x - y;
          d.max_abs = std::max(d.max_abs, std::abs(dd));
          diff2 += dd * dd, dot += x * y, na += x * x, nb += y * y;
        }
      }
      d.values = va.size();
      d.rel_error = nb > 0 ? std::sqrt(diff2 / nb) : (diff2 > 0 ? INFINITY : 0);
      d.cosine = na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : (na == nb ? 1 : 0);
      d.compared = true;
    }
    r.common.push_back(std::move(d));
  }
  for (const auto& eb : b.entries) {
    if (!used_b.count(eb.name)) (swapped ? r.only_a : r.only_b).push_back(eb.name);
  }
  return r;
}

nlohmann::ordered_json diff_json(const DiffReport& r, double tol) {
  nlohmann::ordered_json j = {{"a", r.a}, {"b", r.b}, {"tolerance", tol}, {"equal", r.equal(tol)}, {"only_in_a", r.only_a}, {"only_in_b", r.only_b}};
  j["tensors"] = nlohmann::ordered_json::array();
  for (const auto& t : r.common) {
    nlohmann::ordered_json e = {{"name", t.name}, {"name_b", t.name_b}, {"dtype_a", t.dtype_a}, {"dtype_b", t.dtype_b}, {"shape_a", t.shape_a}, {"shape_b", t.shape_b},
                                {"compared", t.compared}};
    if (t.compared && t.values) e.update({{"max_abs_diff", t.max_abs}, {"relative_error", t.rel_error}, {"cosine_similarity", t.cosine}});
    if (!t.note.empty()) e["note"] = t.note;
    j["tensors"].push_back(e);
  }
  return j;
}

}  // namespace ckpt
