// The forward pass's other operations on the device: norms (sums in double, as the CPU's), RoPE (angles
// and their cos/sin in double, as the CPU's), gated activations, the f16/f32 KV cache and attention
// (one thread block per token and head: scores, softmax, weighted values).
#include <cuda_fp16.h>

#include "runtime/cuda/cuda_common.cuh"
#include "runtime/cuda/cuda_kernels.h"

namespace ckpt::runtime::cuda {

namespace {

constexpr unsigned kThreads = 256;

__device__ __forceinline__ float gelu_tanh(float x) {
  const float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}
__device__ __forceinline__ float silu(float g) { return g / (1.0f + expf(-g)); }

__global__ void scale_kernel(float* x, size_t n, float s) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}
__global__ void add_kernel(float* x, const float* y, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}
__global__ void add_bias_kernel(const float* b, size_t width, float* y, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += b[i % width];
}
__global__ void scale_rows_kernel(const float* f, size_t width, float* y, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] *= f[i % width];
}
__global__ void copy_columns_kernel(const float* src, size_t src_stride, float* dst, size_t dst_stride, size_t width, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    const size_t t = i / width, c = i % width;
    dst[t * dst_stride + c] = src[t * src_stride + c];
  }
}
__global__ void gelu_kernel(float* x, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = gelu_tanh(x[i]);
}
__global__ void softcap_kernel(float* x, size_t n, float cap) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = cap * tanhf(x[i] / cap);
}
__global__ void gated_kernel(int act, const float* gate, size_t gate_stride, const float* up, size_t up_stride, float* out, size_t width,
                             size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    const size_t t = i / width, c = i % width;
    const float g = gate[t * gate_stride + c];
    out[i] = up[t * up_stride + c] * (act == 1 ? gelu_tanh(g) : silu(g));
  }
}

// One block per row.
__global__ void norm_kernel(int kind, const float* w, const float* b, float eps, const float* x, size_t dim, float* out) {
  const float* xr = x + blockIdx.x * dim;
  float* yr = out + blockIdx.x * dim;
  if (kind == 0) {
    double s = 0;
    for (size_t i = threadIdx.x; i < dim; i += blockDim.x) s += double(xr[i]) * xr[i];
    s = block_sum(s);
    const float scale = static_cast<float>(1.0 / sqrt(s / static_cast<double>(dim) + eps));
    for (size_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * scale * w[i];
    return;
  }
  double m = 0;
  for (size_t i = threadIdx.x; i < dim; i += blockDim.x) m += xr[i];
  const double mean = block_sum(m) / static_cast<double>(dim);
  double v = 0;
  for (size_t i = threadIdx.x; i < dim; i += blockDim.x) v += (xr[i] - mean) * (xr[i] - mean);
  const double inv = 1.0 / sqrt(block_sum(v) / static_cast<double>(dim) + eps);
  for (size_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = static_cast<float>((xr[i] - mean) * inv) * w[i] + b[i];
}

// One thread per (token, head, pair).
__global__ void rope_kernel(const float* inv_freq, uint32_t pairs, float mscale, bool interleaved, float* x, size_t n_heads,
                            size_t head_dim, uint32_t pos0, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const size_t p = i % pairs, th = i / pairs;  // th = t * n_heads + h
  const size_t t = th / n_heads;
  const double theta = static_cast<double>(pos0 + t) * inv_freq[p];
  const float c = static_cast<float>(cos(theta)) * mscale, s = static_cast<float>(sin(theta)) * mscale;
  float* head = x + th * head_dim;
  const size_t a = interleaved ? 2 * p : p, b = interleaved ? 2 * p + 1 : p + pairs;
  const float x0 = head[a], x1 = head[b];
  head[a] = x0 * c - x1 * s;
  head[b] = x0 * s + x1 * c;
}

__global__ void store_f16_kernel(const float* src, __half* dst, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = __float2half_rn(src[i]);
}

template <bool F16>
__device__ __forceinline__ float cache_at(const void* c, size_t i) {
  if constexpr (F16) {
    return __half2float(static_cast<const __half*>(c)[i]);
  } else {
    return static_cast<const float*>(c)[i];
  }
}

// Block (t, h): warps score keys, the block finds max and sum, threads sum values over their dims.
template <bool F16>
__global__ void attention_kernel(AttentionShape s, const float* q, const void* k, const void* v, uint32_t pos0, size_t max_keys,
                                 float* scores, float* out) {
  const size_t t = blockIdx.x / s.n_head, h = blockIdx.x % s.n_head, kvh = h / (s.n_head / s.n_head_kv);
  const size_t end = pos0 + t + 1;
  const size_t first = s.window && end > s.window ? end - s.window : 0;
  const size_t n_keys = end - first;
  const float* qh = q + (t * s.n_head + h) * s.head_dim;
  float* sc = scores + blockIdx.x * max_keys;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  for (size_t j = warp; j < n_keys; j += n_warps) {
    const size_t base = (first + j) * s.kv_dim + kvh * s.head_dim;
    float d = 0;
    for (size_t i = lane; i < s.head_dim; i += 32) d += qh[i] * cache_at<F16>(k, base + i);
    d = warp_sum(d);
    if (lane == 0) {
      float score = d * s.scale;
      if (s.softcap > 0) score = s.softcap * tanhf(score / s.softcap);
      sc[j] = score;
    }
  }
  __syncthreads();
  float m = -INFINITY;
  for (size_t j = threadIdx.x; j < n_keys; j += blockDim.x) m = fmaxf(m, sc[j]);
  m = block_max(m);
  double sum = 0;
  for (size_t j = threadIdx.x; j < n_keys; j += blockDim.x) {
    const float e = expf(sc[j] - m);
    sc[j] = e;
    sum += e;
  }
  sum = block_sum(sum);  // also orders the writes to sc before the reads below
  const float inv = static_cast<float>(1.0 / sum);
  float* o = out + (t * s.n_head + h) * s.head_dim;
  for (size_t i = threadIdx.x; i < s.head_dim; i += blockDim.x) {
    float acc = 0;
    for (size_t j = 0; j < n_keys; ++j) acc += sc[j] * inv * cache_at<F16>(v, (first + j) * s.kv_dim + kvh * s.head_dim + i);
    o[i] = acc;
  }
}

}  // namespace

void scale(float* x, size_t n, float s) {
  if (n == 0) return;
  scale_kernel<<<grid_for(n, kThreads), kThreads>>>(x, n, s);
  check_launch("scale");
}
void add(float* x, const float* y, size_t n) {
  if (n == 0) return;
  add_kernel<<<grid_for(n, kThreads), kThreads>>>(x, y, n);
  check_launch("add");
}
void add_bias(const float* b, size_t width, float* y, size_t n_rows) {
  const size_t n = width * n_rows;
  if (n == 0) return;
  add_bias_kernel<<<grid_for(n, kThreads), kThreads>>>(b, width, y, n);
  check_launch("add_bias");
}
void scale_rows(const float* f, size_t width, float* y, size_t n_rows) {
  const size_t n = width * n_rows;
  if (n == 0) return;
  scale_rows_kernel<<<grid_for(n, kThreads), kThreads>>>(f, width, y, n);
  check_launch("scale_rows");
}
void copy_columns(const float* src, size_t src_stride, float* dst, size_t dst_stride, size_t width, size_t n_rows) {
  const size_t n = width * n_rows;
  if (n == 0) return;
  copy_columns_kernel<<<grid_for(n, kThreads), kThreads>>>(src, src_stride, dst, dst_stride, width, n);
  check_launch("copy_columns");
}
void norm(int kind, const float* w, const float* b, float eps, const float* x, size_t n_rows, size_t dim, float* out) {
  if (n_rows == 0) return;
  if (!w) {
    if (out != x) copy_on_device(out, x, n_rows * dim * sizeof(float));
    return;
  }
  norm_kernel<<<static_cast<unsigned>(n_rows), kThreads>>>(kind, w, b, eps, x, dim, out);
  check_launch("norm");
}
void gated(int act, const float* gate, size_t gate_stride, const float* up, size_t up_stride, float* out, size_t n_rows, size_t width) {
  const size_t n = width * n_rows;
  if (n == 0) return;
  gated_kernel<<<grid_for(n, kThreads), kThreads>>>(act, gate, gate_stride, up, up_stride, out, width, n);
  check_launch("gated");
}
void gelu(float* x, size_t n) {
  if (n == 0) return;
  gelu_kernel<<<grid_for(n, kThreads), kThreads>>>(x, n);
  check_launch("gelu");
}
void softcap(float* x, size_t n, float cap) {
  if (n == 0) return;
  softcap_kernel<<<grid_for(n, kThreads), kThreads>>>(x, n, cap);
  check_launch("softcap");
}
void rope(const float* inv_freq, uint32_t pairs, float mscale, bool interleaved, float* x, size_t n_tokens, size_t n_heads,
          size_t head_dim, uint32_t pos0) {
  const size_t n = n_tokens * n_heads * pairs;
  if (n == 0) return;
  rope_kernel<<<grid_for(n, kThreads), kThreads>>>(inv_freq, pairs, mscale, interleaved, x, n_heads, head_dim, pos0, n);
  check_launch("rope");
}

void kv_store(void* cache, bool f16, const float* src, size_t n_tokens, size_t kv_dim, size_t offset) {
  const size_t n = n_tokens * kv_dim;
  if (n == 0) return;
  if (f16) {
    store_f16_kernel<<<grid_for(n, kThreads), kThreads>>>(src, static_cast<__half*>(cache) + offset, n);
    check_launch("kv store");
  } else {
    copy_on_device(static_cast<float*>(cache) + offset, src, n * sizeof(float));
  }
}

void attention(const AttentionShape& s, const float* q, const void* k_cache, const void* v_cache, bool f16, size_t n_tokens,
               uint32_t pos0, float* scores, float* out) {
  const unsigned blocks = static_cast<unsigned>(n_tokens * s.n_head);
  if (blocks == 0) return;
  const size_t max_keys = pos0 + n_tokens;
  if (f16) {
    attention_kernel<true><<<blocks, 128>>>(s, q, k_cache, v_cache, pos0, max_keys, scores, out);
  } else {
    attention_kernel<false><<<blocks, 128>>>(s, q, k_cache, v_cache, pos0, max_keys, scores, out);
  }
  check_launch("attention");
}

}  // namespace ckpt::runtime::cuda
