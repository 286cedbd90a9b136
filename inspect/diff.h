// `ckpt diff A B`: what differs between two models, whatever their formats: tensors only in A or only
// in B, shape or dtype differences, and for common tensors the largest absolute difference, the
// relative error ||a - b|| / ||b|| and the cosine similarity, accumulated in float64. An HF checkpoint
// and a GGUF are matched through the architecture's name table, with llama's Q/K row permutation,
// GPT-NeoX's QKV regrouping, Gemma's 1 + w norms and GPT-2's transposes undone, so "what did my
// conversion change" has an answer. Inputs: anything ckpt reads, .ckpt archives included.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ckpt {

struct TensorDiff {
  std::string name;       // A's name
  std::string name_b;     // B's (differs when formats differ)
  std::string dtype_a, dtype_b;
  std::vector<uint64_t> shape_a, shape_b;
  bool compared = false;  // false: shapes disagree or a type has no float values (note says)
  std::string note;
  uint64_t values = 0;
  double max_abs = 0, rel_error = 0, cosine = 1;
  uint64_t differing = 0;  // values with |a - b| > tol
};

struct DiffReport {
  std::string a, b;
  std::vector<std::string> only_a, only_b;
  std::vector<TensorDiff> common;
  // Same tensor names and shapes, and every common tensor within `tol` (max |a - b| <= tol).
  bool equal(double tol) const;
};

DiffReport diff_models(const std::string& a, const std::string& b, unsigned threads);
nlohmann::ordered_json diff_json(const DiffReport& report, double tol);

}  // namespace ckpt
