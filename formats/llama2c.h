// llama2.c checkpoints (run.c's legacy format):
//   i32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (< 0: separate classifier), seq_len;
//   then f32 arrays: token_embedding [vocab, dim], rms_att [L, dim], wq [L, dim, dim],
//   wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim],
//   w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim],
//   freq_cis [seq_len, head_size] (real and imaginary halves), wcls [vocab, dim] if unshared.
// The file has no magic: the header must be plausible and the arrays must end exactly at EOF.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/mapped_file.h"

namespace ckpt {

struct Llama2cConfig {
  uint64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
};

struct Llama2cArray {
  std::string name;             // run.c's field name: "wq", "rms_att", ...
  std::vector<uint64_t> shape;  // outermost first
  std::span<const std::byte> data;
};

struct Llama2cFile {
  std::shared_ptr<const MappedFile> file;
  Llama2cConfig config;
  std::vector<Llama2cArray> arrays;  // in file order; wcls only when unshared
  const Llama2cArray& array(const std::string& name) const;
};

// Throws Error(BadShape, IncompleteBuffer, Overflow, ...) naming the header field or the byte offset.
Llama2cFile read_llama2c(std::shared_ptr<const MappedFile> file);

// Whether `bytes` start like a llama2.c header whose arrays fill the file exactly (for sniffing).
bool looks_like_llama2c(std::span<const std::byte> bytes, uint64_t file_size);

}  // namespace ckpt
