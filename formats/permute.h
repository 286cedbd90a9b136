// Row reorderings between HF and GGUF: llama's Q/K permutation (LlamaModel.permute in
// convert_hf_to_gguf.py) and GPT-NeoX's fused QKV regrouping.
//
// HF stores each head's rows as two halves [0, hd/2) and [hd/2, hd) (rotate_half rope); llama.cpp's
// LLAMA rope wants them interleaved: GGUF row h*hd + 2r + s holds HF row h*hd + s*hd/2 + r.
#pragma once

#include <cstdint>

#include "formats/architecture.h"

namespace ckpt {

// The HF row that lands in GGUF row `gguf_row` (n_rows = n_head * head_dim).
inline uint64_t hf_row_for_gguf_row(uint64_t gguf_row, uint64_t n_rows, uint64_t n_head) {
  const uint64_t hd = n_rows / n_head;
  const uint64_t h = gguf_row / hd, j = gguf_row % hd;
  return h * hd + (j % 2) * (hd / 2) + j / 2;
}

// The GGUF row that holds HF row `hf_row` (the inverse, for GGUF -> HF).
inline uint64_t gguf_row_for_hf_row(uint64_t hf_row, uint64_t n_rows, uint64_t n_head) {
  const uint64_t hd = n_rows / n_head;
  const uint64_t h = hf_row / hd, j = hf_row % hd;
  return h * hd + 2 * (j % (hd / 2)) + j / (hd / 2);
}

// GPT-NeoX's fused query_key_value holds each head's [q; k; v] rows together; llama.cpp regroups them
// as [all q; all k; all v] (GPTNeoXModel.modify_tensors). n_rows = 3 * n_head * head_dim.
inline uint64_t hf_row_for_neox_qkv_row(uint64_t gguf_row, uint64_t n_rows, uint64_t n_head) {
  const uint64_t width = n_rows / 3, hd = width / n_head;
  const uint64_t part = gguf_row / width, h = (gguf_row % width) / hd, d = gguf_row % hd;
  return h * 3 * hd + part * hd + d;
}
inline uint64_t neox_qkv_row_for_hf_row(uint64_t hf_row, uint64_t n_rows, uint64_t n_head) {
  const uint64_t width = n_rows / 3, hd = width / n_head;
  const uint64_t h = hf_row / (3 * hd), part = (hf_row % (3 * hd)) / hd, d = hf_row % hd;
  return part * width + h * hd + d;
}

// The same for any TensorOp (rows of the others stay where they are). `heads` from heads_for_rows.
inline uint64_t heads_for_rows(TensorOp op, uint64_t n_head, uint64_t n_head_kv) {
  return op == TensorOp::PermuteQ || op == TensorOp::NeoxQkv ? n_head : op == TensorOp::PermuteK ? n_head_kv : 0;
}
inline bool reorders_rows(TensorOp op) { return op == TensorOp::PermuteQ || op == TensorOp::PermuteK || op == TensorOp::NeoxQkv; }
// Whether n_rows splits the way `op` needs (whole rope half-pairs, or three blocks of whole heads).
inline bool rows_split(TensorOp op, uint64_t n_rows, uint64_t heads) {
  if (!reorders_rows(op)) return true;
  return heads != 0 && n_rows % ((op == TensorOp::NeoxQkv ? 3 : 2) * heads) == 0;
}
inline uint64_t hf_row_for(TensorOp op, uint64_t gguf_row, uint64_t n_rows, uint64_t heads) {
  if (op == TensorOp::NeoxQkv) return hf_row_for_neox_qkv_row(gguf_row, n_rows, heads);
  return reorders_rows(op) ? hf_row_for_gguf_row(gguf_row, n_rows, heads) : gguf_row;
}
inline uint64_t gguf_row_for(TensorOp op, uint64_t hf_row, uint64_t n_rows, uint64_t heads) {
  if (op == TensorOp::NeoxQkv) return neox_qkv_row_for_hf_row(hf_row, n_rows, heads);
  return reorders_rows(op) ? gguf_row_for_hf_row(hf_row, n_rows, heads) : hf_row;
}

}  // namespace ckpt
