#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "formats/float_convert.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"

namespace ckpt::runtime {

ActFormat act_format_for(const Weight& w) {
  if (w.bnb4) return ActFormat::F32;
  switch (w.dtype) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::IQ4_NL:
      return ActFormat::Q8_0;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return ActFormat::Q8_K;
    default:
      return ActFormat::F32;
  }
}

size_t act_row_bytes(ActFormat format, size_t n) {
  switch (format) {
    case ActFormat::Q8_0: return n / 32 * sizeof(BlockQ8_0);
    case ActFormat::Q8_K: return n / 256 * sizeof(BlockQ8K);
    case ActFormat::F32: break;
  }
  return n * sizeof(float);
}

void quantize_activation(ActFormat format, const float* x, size_t n, void* out) {
  switch (format) {
    case ActFormat::F32:
      std::memcpy(out, x, n * sizeof(float));
      return;
    case ActFormat::Q8_0:
      quantize_q8_0({x, n}, {static_cast<std::byte*>(out), n / 32 * sizeof(BlockQ8_0)});
      return;
    case ActFormat::Q8_K: {
      auto* blocks = static_cast<BlockQ8K*>(out);
      for (size_t b = 0; b < n / 256; ++b) {
        const float* xb = x + b * 256;
        float amax = 0;
        for (int i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(xb[i]));
        BlockQ8K& q = blocks[b];
        q.d = amax / 127.0f;
        const float iscale = amax > 0 ? 127.0f / amax : 0.0f;
        for (int i = 0; i < 256; ++i) q.qs[i] = static_cast<int8_t>(std::clamp(std::nearbyint(xb[i] * iscale), -127.0f, 127.0f));
        for (int g = 0; g < 16; ++g) {
          int sum = 0;
          for (int i = 0; i < 16; ++i) sum += q.qs[g * 16 + i];
          q.bsums[g] = static_cast<int16_t>(sum);
        }
      }
      return;
    }
  }
}

namespace {

// Weight values of row r, decoded `chunk` at a time, dotted with f32 activations.
float dot_generic_f32(const Weight& w, uint64_t r, const void* act) {
  const float* x = static_cast<const float*>(act);
  const auto& info = dtype_info(w.dtype);
  const uint64_t chunk = info.block_elems > 1 ? info.block_elems : 256;
  float values[256];
  float sum = 0;
  const std::byte* row = w.data + r * w.row_bytes;
  for (uint64_t c = 0; c < w.cols; c += chunk) {
    const uint64_t n = std::min<uint64_t>(chunk, w.cols - c);
    const uint64_t offset = c / info.block_elems * info.block_bytes;
    const uint64_t bytes = n / info.block_elems * info.block_bytes;
    decode_to_f32(w.dtype, {row + offset, bytes}, {values, n});
    for (uint64_t i = 0; i < n; ++i) sum += values[i] * x[c + i];
  }
  return sum;
}

float dot_q8_0_act(const Weight& w, uint64_t r, const void* act) {
  const auto* xb = static_cast<const BlockQ8_0*>(act);
  const auto& info = dtype_info(w.dtype);
  const std::byte* row = w.data + r * w.row_bytes;
  float values[32], xv[32];
  float sum = 0;
  for (uint64_t b = 0; b < w.cols / 32; ++b) {
    decode_to_f32(w.dtype, {row + b * info.block_bytes, info.block_bytes}, values);
    decode_to_f32(DType::Q8_0, {reinterpret_cast<const std::byte*>(&xb[b]), sizeof(BlockQ8_0)}, xv);
    for (int i = 0; i < 32; ++i) sum += values[i] * xv[i];
  }
  return sum;
}

float dot_q8_k_act(const Weight& w, uint64_t r, const void* act) {
  const auto* xb = static_cast<const BlockQ8K*>(act);
  const auto& info = dtype_info(w.dtype);
  const std::byte* row = w.data + r * w.row_bytes;
  float values[256];
  float sum = 0;
  for (uint64_t b = 0; b < w.cols / 256; ++b) {
    decode_to_f32(w.dtype, {row + b * info.block_bytes, info.block_bytes}, values);
    for (int i = 0; i < 256; ++i) sum += values[i] * (static_cast<float>(xb[b].qs[i]) * xb[b].d);
  }
  return sum;
}

float dot_bnb4(const Weight& w, uint64_t r, const void* act) {
  const float* x = static_cast<const float*>(act);
  const auto* packed = reinterpret_cast<const uint8_t*>(w.data + r * w.row_bytes);
  const float* absmax = w.bnb4_absmax.data() + r * (w.cols / w.bnb4_block);
  float sum = 0;
  for (uint64_t i = 0; i < w.cols; i += 2) {
    const uint8_t byte = packed[i / 2];
    const float scale = absmax[i / w.bnb4_block];
    sum += w.bnb4_code[byte >> 4] * scale * x[i] + w.bnb4_code[byte & 15] * scale * x[i + 1];
  }
  return sum;
}

}  // namespace

namespace {
template <typename Cache>
float cache_value(const Cache* p) {
  if constexpr (std::is_same_v<Cache, float>) {
    return *p;
  } else {
    return f16_to_f32(*p);
  }
}

template <typename Cache>
void attend_head_scalar(const float* q, const Cache* k, const Cache* v, size_t n_keys, size_t stride, size_t hd, float scale, float softcap,
                        float* scores, float* out) {
  float max_score = -INFINITY;
  for (size_t j = 0; j < n_keys; ++j) {
    float s = 0;
    for (size_t d = 0; d < hd; ++d) s += q[d] * cache_value(k + j * stride + d);
    scores[j] = s * scale;
    if (softcap > 0) scores[j] = softcap * std::tanh(scores[j] / softcap);
    max_score = std::max(max_score, scores[j]);
  }
  double sum = 0;
  for (size_t j = 0; j < n_keys; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    sum += scores[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  std::fill(out, out + hd, 0.0f);
  for (size_t j = 0; j < n_keys; ++j) {
    for (size_t d = 0; d < hd; ++d) out[d] += scores[j] * inv * cache_value(v + j * stride + d);
  }
}
}  // namespace

void attend_head(const float* q, const float* k, const float* v, size_t n_keys, size_t stride, size_t hd, float scale, float softcap,
                 float* scores, float* out) {
  if (cpu_supports_avx2_kernels()) return attend_head_avx2(q, k, v, n_keys, stride, hd, scale, softcap, scores, out);
  attend_head_scalar(q, k, v, n_keys, stride, hd, scale, softcap, scores, out);
}

void attend_head(const float* q, const uint16_t* k, const uint16_t* v, size_t n_keys, size_t stride, size_t hd, float scale, float softcap,
                 float* scores, float* out) {
  if (cpu_supports_avx2_kernels()) return attend_head_f16_avx2(q, k, v, n_keys, stride, hd, scale, softcap, scores, out);
  attend_head_scalar(q, k, v, n_keys, stride, hd, scale, softcap, scores, out);
}

DotFn scalar_dot_for(const Weight& w) {
  if (w.bnb4) return dot_bnb4;
  switch (act_format_for(w)) {
    case ActFormat::Q8_0: return dot_q8_0_act;
    case ActFormat::Q8_K: return dot_q8_k_act;
    case ActFormat::F32: break;
  }
  return dot_generic_f32;
}

}  // namespace ckpt::runtime
