// llama's Q/K row permutation (LlamaModel.permute in convert_hf_to_gguf.py).
//
// HF stores each head's rows as two halves [0, hd/2) and [hd/2, hd) (rotate_half rope); llama.cpp's
// LLAMA rope wants them interleaved: GGUF row h*hd + 2r + s holds HF row h*hd + s*hd/2 + r.
#pragma once

#include <cstdint>

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

}  // namespace ckpt
