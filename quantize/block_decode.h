// Per-block dequantization shared by the host and the device: one function per ggml block type (and the
// bitsandbytes 4-bit value and double-quantized absmax) that
// turns one block's bytes into its values, written once and compiled by the host compiler (the CPU
// dequantizers in quantize/ are loops over these) and by nvcc (the CUDA dequantize-matvec kernels call
// the same functions), so the CPU tests that check the dequantizers against the scalar references and
// hand-built blocks check the code the GPU runs.
//
// Bytes are read one at a time (little-endian): blocks sit at any offset in a mapped file or a device
// buffer, and the device faults on misaligned wide loads. No library calls: f16 is decoded by bit
// manipulation (exact, like every IEEE conversion).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define CKPT_HD __host__ __device__ __forceinline__
#else
#define CKPT_HD inline
#endif

namespace ckpt::block_decode {

CKPT_HD uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

CKPT_HD float bits_to_f32(uint32_t u) {
  union {
    uint32_t u;
    float f;
  } v{u};
  return v.f;
}

// IEEE binary16 -> binary32, exact (subnormals, inf and NaN included).
CKPT_HD float f16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
  if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (man << 13));
  if (exp == 0) {
    if (man == 0) return bits_to_f32(sign);
    // Subnormal: normalise the mantissa.
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while ((man & 0x400u) == 0);
    return bits_to_f32(sign | ((112u - static_cast<uint32_t>(e)) << 23) | ((man & 0x3FFu) << 13));
  }
  return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

CKPT_HD float bf16(uint16_t h) { return bits_to_f32(static_cast<uint32_t>(h) << 16); }

// IQ4_NL / IQ4_XS code book.
CKPT_HD int8_t iq4nl_value(int i) {
  constexpr int8_t v[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  return v[i];
}

// Block sizes in values and bytes (ggml-common.h).
inline constexpr int kQ8_0Bytes = 34, kQ4_0Bytes = 18, kQ4_1Bytes = 20, kQ5_0Bytes = 22, kQ5_1Bytes = 24, kIQ4NLBytes = 18;
inline constexpr int kQ2KBytes = 84, kQ3KBytes = 110, kQ4KBytes = 144, kQ5KBytes = 176, kQ6KBytes = 210, kIQ4XSBytes = 136;

// --- 32-value blocks -----------------------------------------------------------------------------

CKPT_HD void q8_0(const uint8_t* b, float* y) {
  const float d = f16(rd16(b));
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}

CKPT_HD void q4_0(const uint8_t* b, float* y) {
  const float d = f16(rd16(b));
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((b[2 + j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((b[2 + j] >> 4) - 8) * d;
  }
}

CKPT_HD void q4_1(const uint8_t* b, float* y) {
  const float d = f16(rd16(b)), m = f16(rd16(b + 2));
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(b[4 + j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(b[4 + j] >> 4) * d + m;
  }
}

CKPT_HD uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

CKPT_HD void q5_0(const uint8_t* b, float* y) {
  const float d = f16(rd16(b));
  const uint32_t qh = rd32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int h0 = static_cast<int>(((qh >> j) << 4) & 0x10), h1 = static_cast<int>((qh >> (j + 12)) & 0x10);
    y[j] = static_cast<float>(((qs[j] & 0x0F) | h0) - 16) * d;
    y[j + 16] = static_cast<float>(((qs[j] >> 4) | h1) - 16) * d;
  }
}

CKPT_HD void q5_1(const uint8_t* b, float* y) {
  const float d = f16(rd16(b)), m = f16(rd16(b + 2));
  const uint32_t qh = rd32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int h0 = static_cast<int>(((qh >> j) << 4) & 0x10), h1 = static_cast<int>((qh >> (j + 12)) & 0x10);
    y[j] = static_cast<float>((qs[j] & 0x0F) | h0) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
  }
}

CKPT_HD void iq4_nl(const uint8_t* b, float* y) {
  const float d = f16(rd16(b));
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>(iq4nl_value(b[2 + j] & 0xF));
    y[j + 16] = d * static_cast<float>(iq4nl_value(b[2 + j] >> 4));
  }
}

// --- 256-value super-blocks ----------------------------------------------------------------------

CKPT_HD void scale_min_k4(int j, const uint8_t* q, int* d, int* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// Each 256-value type decodes in eight 32-value sub-blocks (`xxx_sub(block, s, y)`: values 32 s ..
// 32 s + 31), so a GPU thread can take one sub-block; the whole-block functions are loops over them.

// block_q2_K: scales[16] | qs[64] | d | dmin. Sub-block s: half n = s / 4 of the block, 2-bit field
// j = s % 4 of its 32 bytes, two 16-value groups with their own 4-bit scale and min.
CKPT_HD void q2_k_sub(const uint8_t* b, int s, float* y) {
  const float d = f16(rd16(b + 80)), min = f16(rd16(b + 82));
  const int n = s / 4, shift = 2 * (s % 4);
  const uint8_t* q = b + 16 + 32 * n;
  for (int half = 0; half < 2; ++half) {
    const uint8_t sc = b[8 * n + 2 * (s % 4) + half];
    const float dl = d * static_cast<float>(sc & 0xF), ml = min * static_cast<float>(sc >> 4);
    for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
  }
}

// Q3_K's 16 6-bit scales (stored + 32) from its 12 packed bytes.
CKPT_HD int q3_k_scale(const uint8_t* scales, int j) {
  const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  return (low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// block_q3_K: hmask[32] | qs[64] | scales[12] | d. Sub-block s: as Q2_K, high bit s of hmask.
CKPT_HD void q3_k_sub(const uint8_t* b, int s, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* scales = b + 96;
  const float d_all = f16(rd16(b + 108));
  const int n = s / 4, shift = 2 * (s % 4);
  const uint8_t* q = b + 32 + 32 * n;
  const uint8_t m = static_cast<uint8_t>(1u << s);
  for (int half = 0; half < 2; ++half) {
    const float dl = d_all * static_cast<float>(q3_k_scale(scales, 8 * n + 2 * (s % 4) + half));
    for (int l = 0; l < 16; ++l) {
      const int k = l + 16 * half;
      *y++ = dl * static_cast<float>(((q[k] >> shift) & 3) - ((hmask[k] & m) ? 0 : 4));
    }
  }
}

// block_q4_K: d | dmin | scales[12] | qs[128]. Sub-block s: nibble s % 2 of bytes 32 (s / 2) ...
CKPT_HD void q4_k_sub(const uint8_t* b, int s, float* y) {
  const float d = f16(rd16(b)), min = f16(rd16(b + 2));
  int sc, m;
  scale_min_k4(s, b + 4, &sc, &m);
  const float ds = d * static_cast<float>(sc), ms = min * static_cast<float>(m);
  const uint8_t* q = b + 16 + 32 * (s / 2);
  const int shift = 4 * (s % 2);
  for (int l = 0; l < 32; ++l) y[l] = ds * static_cast<float>((q[l] >> shift) & 0xF) - ms;
}

// block_q5_K: d | dmin | scales[12] | qh[32] | qs[128]. As Q4_K, high bit s of qh.
CKPT_HD void q5_k_sub(const uint8_t* b, int s, float* y) {
  const float d = f16(rd16(b)), min = f16(rd16(b + 2));
  int sc, m;
  scale_min_k4(s, b + 4, &sc, &m);
  const float ds = d * static_cast<float>(sc), ms = min * static_cast<float>(m);
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48 + 32 * (s / 2);
  const int shift = 4 * (s % 2);
  const uint8_t u = static_cast<uint8_t>(1u << s);
  for (int l = 0; l < 32; ++l) y[l] = ds * static_cast<float>(((ql[l] >> shift) & 0xF) + (qh[l] & u ? 16 : 0)) - ms;
}

// block_q6_K: ql[128] | qh[64] | scales[16] (int8) | d. Sub-block s: half n = s / 4, quarter k = s % 4
// (low or high nibbles of ql bytes 0..31 or 32..63 of the half, 2-bit field k of qh).
CKPT_HD void q6_k_sub(const uint8_t* b, int s, float* y) {
  const float d = f16(rd16(b + 208));
  const int n = s / 4, k = s % 4;
  const uint8_t* ql = b + 64 * n + 32 * (k % 2);
  const uint8_t* qh = b + 128 + 32 * n;
  const uint8_t* sc = b + 192 + 8 * n;
  const int nibble_shift = 4 * (k / 2);
  for (int l = 0; l < 32; ++l) {
    const int q = (((ql[l] >> nibble_shift) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
    y[l] = d * static_cast<float>(static_cast<int8_t>(sc[l / 16 + 2 * k])) * static_cast<float>(q);
  }
}

// block_iq4_xs: d | scales_h | scales_l[4] | qs[128]. Sub-block s has its own 6-bit scale.
CKPT_HD void iq4_xs_sub(const uint8_t* b, int s, float* y) {
  const float d = f16(rd16(b));
  const uint16_t scales_h = rd16(b + 2);
  const int ls = ((b[4 + s / 2] >> (4 * (s % 2))) & 0xF) | (((scales_h >> (2 * s)) & 3) << 4);
  const float dl = d * static_cast<float>(ls - 32);
  const uint8_t* qs = b + 8 + 16 * s;
  for (int j = 0; j < 16; ++j) {
    y[j] = dl * static_cast<float>(iq4nl_value(qs[j] & 0xF));
    y[j + 16] = dl * static_cast<float>(iq4nl_value(qs[j] >> 4));
  }
}

#define CKPT_WHOLE_BLOCK(NAME) \
  CKPT_HD void NAME(const uint8_t* b, float* y) {          \
    for (int s = 0; s < 8; ++s) NAME##_sub(b, s, y + 32 * s); \
  }
CKPT_WHOLE_BLOCK(q2_k)
CKPT_WHOLE_BLOCK(q3_k)
CKPT_WHOLE_BLOCK(q4_k)
CKPT_WHOLE_BLOCK(q5_k)
CKPT_WHOLE_BLOCK(q6_k)
CKPT_WHOLE_BLOCK(iq4_xs)
#undef CKPT_WHOLE_BLOCK

// --- bitsandbytes 4-bit (NF4 / FP4, QLoRA) -------------------------------------------------------

// Value i of a packed bnb 4-bit tensor: two codes per byte, the EVEN element in the HIGH nibble, times
// its block's absmax (`code`: the 16-entry quant_map).
CKPT_HD float bnb4_value(const uint8_t* packed, uint64_t i, const float* code, float absmax) {
  const uint8_t byte = packed[i / 2];
  return code[i % 2 == 0 ? byte >> 4 : byte & 0x0F] * absmax;
}

// Block b's absmax under double quantization: map[code] * nested_absmax[b / nested_blocksize] + offset.
CKPT_HD float bnb4_nested_absmax(const uint8_t* absmax_codes, uint64_t b, const float* code_map, const float* nested_absmax,
                                 uint64_t nested_blocksize, float offset) {
  return code_map[absmax_codes[b]] * nested_absmax[b / nested_blocksize] + offset;
}

}  // namespace ckpt::block_decode
