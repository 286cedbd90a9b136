// The CUDA kernels behind the CUDA backend (cuda_backend.cpp) and the trainer's QLoRA dequantization,
// as plain functions on device pointers: C++17 and free of runtime/model.h, because nvcc compiles the
// .cu files that implement them. Every function runs on the current stream (the default one) and throws
// Error(Unsupported) naming the CUDA call that failed. Built only with CUDA (cuda_stub.cpp has none).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/dtype.h"

namespace ckpt::runtime::cuda {

// --- device memory --------------------------------------------------------------------------------
void* device_alloc(size_t bytes);
void device_free(void* p) noexcept;
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);
void synchronize();
// "NVIDIA H200, sm_90, 139 GiB"
std::string device_description();

// A weight matrix resident on the device in its stored form: rows of row_bytes (GGUF layout), or
// bitsandbytes 4-bit codes (two per byte, high nibble first) with one f32 absmax per bnb4_block values
// and the 16-entry code book.
struct DeviceMatrix {
  DType type = DType::F32;
  bool bnb4 = false;
  uint32_t bnb4_block = 64;
  const uint8_t* data = nullptr;
  const float* absmax = nullptr;
  const float* code = nullptr;
  uint64_t rows = 0, cols = 0, row_bytes = 0;
};

// Token counts up to this go through the dequantize-matvec kernels (each weight byte read once for all
// of them); larger batches dequantize to f16 and multiply on the tensor cores (WMMA), except f32
// weights, which stay exact through the matvec kernel in chunks of tokens.
inline constexpr size_t kMatvecMaxTokens = 8;

// y[t * rows + r] = dot(row r, x[t]) for t < n_tokens; x is n_tokens x cols.
void matmul(const DeviceMatrix& w, const float* x, size_t n_tokens, float* y);
// y[t * rows + r] += dot(row r, x[t]) (LoRA's B u; f32 matrices only).
void matmul_add(const DeviceMatrix& w, const float* x, size_t n_tokens, float* y);
// Rows `row_ids[i]` (device int32 array, n_rows of them; nullptr: rows 0..n_rows-1) decoded to f32 at
// out[i * cols].
void dequantize_rows(const DeviceMatrix& w, const int32_t* row_ids, size_t n_rows, float* out);

// --- elementwise and per-row operations (the Backend operations of the same names) ------------------
void scale(float* x, size_t n, float s);
void add(float* x, const float* y, size_t n);
void add_bias(const float* b, size_t width, float* y, size_t n_rows);
void scale_rows(const float* factor, size_t width, float* y, size_t n_rows);  // y[t][i] *= factor[i]
void copy_columns(const float* src, size_t src_stride, float* dst, size_t dst_stride, size_t width, size_t n_rows);
// kind 0: RMSNorm (b unused), 1: LayerNorm; w == nullptr: copy.
void norm(int kind, const float* w, const float* b, float eps, const float* x, size_t n_rows, size_t dim, float* out);
// act 0: SiLU, 1: GELU (tanh).
void gated(int act, const float* gate, size_t gate_stride, const float* up, size_t up_stride, float* out, size_t n_rows, size_t width);
void gelu(float* x, size_t n);
void softcap(float* x, size_t n, float cap);
// inv_freq: device array of `pairs`; interleaved: pairs (2i, 2i+1), else (i, i + pairs).
void rope(const float* inv_freq, uint32_t pairs, float mscale, bool interleaved, float* x, size_t n_tokens, size_t n_heads,
          size_t head_dim, uint32_t pos0);

// --- KV cache and attention ---------------------------------------------------------------------------
// The cache holds n_ctx positions of kv_dim values per layer, f16 (uint16 IEEE half) or f32.
void kv_store(void* cache, bool f16, const float* src, size_t n_tokens, size_t kv_dim, size_t offset);
struct AttentionShape {
  size_t n_head = 0, n_head_kv = 0, head_dim = 0, kv_dim = 0;
  float scale = 1.0f, softcap = 0.0f;
  size_t window = 0;
};
// For each token t and head h: softmax over keys first..pos0+t of the layer's cache (starting at
// k/v + layer offset), weighted sum of values into out. scores: device scratch of
// n_tokens * n_head * (pos0 + n_tokens) floats.
void attention(const AttentionShape& s, const float* q, const void* k_cache, const void* v_cache, bool f16, size_t n_tokens,
               uint32_t pos0, float* scores, float* out);

}  // namespace ckpt::runtime::cuda
