// ggml's packed block layouts (ggml-common.h; ggml_half = IEEE f16 bits). Every struct is pinned to
// the byte size in the dtype registry, so a layout slip fails to compile.
#pragma once

#include <cstdint>

#include "formats/dtype.h"

namespace ckpt {

inline constexpr int kQK = 32;     // QK4_0 .. QK8_0, QK4_NL
inline constexpr int kQK_K = 256;  // K-quant super-block

// value = (nibble - 8) * d; element j in the low nibble of qs[j], element j+16 in its high nibble.
struct BlockQ4_0 { uint16_t d; uint8_t qs[kQK / 2]; };
// value = nibble * d + m.
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[kQK / 2]; };
// value = (q - 16) * d; the 5th bits of elements j / j+16 are bits j / j+16 of qh (little-endian u32).
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
// value = kvalues_iq4nl[nibble] * d, nibble order as Q4_0.
struct BlockIQ4_NL { uint16_t d; uint8_t qs[kQK / 2]; };
// 8 sub-blocks of 32 with 6-bit scales and mins packed in scales[12]; value = d*sc*q - dmin*m.
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[kQK_K / 8]; uint8_t qs[kQK_K / 2]; };
// 16 sub-blocks of 16 with 4-bit scales (low nibble) and mins (high nibble); value = d*sc*q - dmin*m, q in 0..3.
struct BlockQ2_K { uint8_t scales[kQK_K / 16]; uint8_t qs[kQK_K / 4]; uint16_t d, dmin; };
// 16 sub-blocks of 16 with 6-bit signed scales packed in scales[12]; value = d * (sc - 32) * (q - 4), the
// third bit of q in hmask (bit j/32 of hmask[j % 32]).
struct BlockQ3_K { uint8_t hmask[kQK_K / 8]; uint8_t qs[kQK_K / 4]; uint8_t scales[12]; uint16_t d; };
// 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l, high 2 in scales_h); value =
// d * (ls - 32) * kvalues_iq4nl[nibble].
struct BlockIQ4_XS { uint16_t d; uint16_t scales_h; uint8_t scales_l[kQK_K / 64]; uint8_t qs[kQK_K / 2]; };
// 16 sub-blocks of 16 with int8 scales; value = d * scales[s] * (q - 32); d is LAST.
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; uint16_t d; };

static_assert(sizeof(BlockQ4_0) == dtype_info(DType::Q4_0).block_bytes);
static_assert(sizeof(BlockQ4_1) == dtype_info(DType::Q4_1).block_bytes);
static_assert(sizeof(BlockQ5_0) == dtype_info(DType::Q5_0).block_bytes);
static_assert(sizeof(BlockQ5_1) == dtype_info(DType::Q5_1).block_bytes);
static_assert(sizeof(BlockIQ4_NL) == dtype_info(DType::IQ4_NL).block_bytes);
static_assert(sizeof(BlockQ2_K) == dtype_info(DType::Q2_K).block_bytes);
static_assert(sizeof(BlockQ3_K) == dtype_info(DType::Q3_K).block_bytes);
static_assert(sizeof(BlockIQ4_XS) == dtype_info(DType::IQ4_XS).block_bytes);
static_assert(sizeof(BlockQ4_K) == dtype_info(DType::Q4_K).block_bytes);
static_assert(sizeof(BlockQ5_K) == dtype_info(DType::Q5_K).block_bytes);
static_assert(sizeof(BlockQ6_K) == dtype_info(DType::Q6_K).block_bytes);

// IQ4_NL's non-uniform code book (int8).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

}  // namespace ckpt
