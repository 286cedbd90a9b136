// Small random models for the runtime tests, written as GGUF with chosen weight types, plus an
// independent float64 forward pass over the same weights (no code shared with runtime/).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/dtype.h"

namespace ckpt::test {

struct RandomModelSpec {
  std::string arch = "llama";  // llama, qwen2 (q/k/v biases, neox rope), gpt2
  uint32_t n_vocab = 300, n_embd = 256, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 512, n_ctx = 64;
  float rope_base = 10000.0f;
  float rope_scale_factor = 0;  // > 0: linear rope scaling
  bool llama3_rope_freqs = false;  // write a rope_freqs tensor (per-pair divisors, Llama-3.1 style)
  bool tied_output = false;
  DType weight_type = DType::F32;  // for every 2-D matrix; norms and biases stay F32
  uint64_t seed = 1;
  // For hostile-file tests: metadata values replaced after the fact, tensors left out.
  std::map<std::string, uint32_t> override_u32;
  std::string override_arch;
  std::vector<std::string> drop_tensors;
};

struct RandomModel {
  RandomModelSpec spec;
  // GGUF tensor name -> values (PyTorch order: [rows][cols] for matrices) as generated.
  std::map<std::string, std::vector<float>> original;
  // The same after the weight type's round trip (what the file holds, decoded).
  std::map<std::string, std::vector<float>> stored;
};

// Generates the weights and writes the GGUF to `path`.
RandomModel write_random_model(const RandomModelSpec& spec, const std::string& path);

// Float64 forward pass: logits (n_tokens x n_vocab) for `tokens` fed from position 0, from
// `weights` (original or stored).
std::vector<double> reference_logits(const RandomModelSpec& spec, const std::map<std::string, std::vector<float>>& weights,
                                     const std::vector<int32_t>& tokens);

}  // namespace ckpt::test
