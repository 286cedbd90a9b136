// The dtype registry: every safetensors dtype and every ggml type id, in one table.
//
// A dtype stores `block_elems` elements in `block_bytes` bytes. Plain types have block_elems == 1;
// sub-byte safetensors types are blocks too (F4: 2 elements per byte, F6: 4 elements per 3 bytes),
// and ggml quant types are blocks of 32 or 256 (QK_K). Sizes follow gguf-py's GGML_QUANT_SIZES and
// the safetensors Dtype enum (see ../shared/specs).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ckpt {

enum class DType : uint8_t {
  // plain element types (safetensors and ggml share the float/int ones)
  BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64, C64,
  F8_E4M3, F8_E5M2, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, F4, F6_E2M3, F6_E3M2,
  // ggml block types
  Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
  IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, IQ1_M, TQ1_0, TQ2_0,
  MXFP4, NVFP4, Q1_0, Q2_0,
  Count
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;              // ckpt's display name (safetensors spelling where one exists)
  uint32_t block_elems;
  uint32_t block_bytes;
  std::string_view safetensors_name;  // empty: not a safetensors dtype
  int ggml_id;                        // -1: not a ggml type
  int safetensors_rank;               // position in the safetensors Dtype enum (writer order), -1 if none
};

inline constexpr int kGgmlTypeCount = 43;  // GGML_TYPE_COUNT; ids 4, 5, 31-33, 36-38 are retired

// clang-format off
inline constexpr std::array<DTypeInfo, static_cast<size_t>(DType::Count)> kDTypes{{
  {DType::BOOL,        "BOOL",        1, 1, "BOOL",         -1,  0},
  {DType::U8,          "U8",          1, 1, "U8",           -1,  4},
  {DType::I8,          "I8",          1, 1, "I8",           24,  5},
  {DType::U16,         "U16",         1, 2, "U16",          -1, 12},
  {DType::I16,         "I16",         1, 2, "I16",          25, 11},
  {DType::U32,         "U32",         1, 4, "U32",          -1, 16},
  {DType::I32,         "I32",         1, 4, "I32",          26, 15},
  {DType::U64,         "U64",         1, 8, "U64",          -1, 21},
  {DType::I64,         "I64",         1, 8, "I64",          27, 20},
  {DType::F16,         "F16",         1, 2, "F16",           1, 13},
  {DType::BF16,        "BF16",        1, 2, "BF16",         30, 14},
  {DType::F32,         "F32",         1, 4, "F32",           0, 17},
  {DType::F64,         "F64",         1, 8, "F64",          28, 19},
  {DType::C64,         "C64",         1, 8, "C64",          -1, 18},
  {DType::F8_E4M3,     "F8_E4M3",     1, 1, "F8_E4M3",      -1,  7},
  {DType::F8_E5M2,     "F8_E5M2",     1, 1, "F8_E5M2",      -1,  6},
  {DType::F8_E8M0,     "F8_E8M0",     1, 1, "F8_E8M0",      -1,  8},
  {DType::F8_E4M3FNUZ, "F8_E4M3FNUZ", 1, 1, "F8_E4M3FNUZ",  -1,  9},
  {DType::F8_E5M2FNUZ, "F8_E5M2FNUZ", 1, 1, "F8_E5M2FNUZ",  -1, 10},
  {DType::F4,          "F4",          2, 1, "F4",           -1,  1},
  {DType::F6_E2M3,     "F6_E2M3",     4, 3, "F6_E2M3",      -1,  2},
  {DType::F6_E3M2,     "F6_E3M2",     4, 3, "F6_E3M2",      -1,  3},
  {DType::Q4_0,        "Q4_0",       32,  18, "",  2, -1},
  {DType::Q4_1,        "Q4_1",       32,  20, "",  3, -1},
  {DType::Q5_0,        "Q5_0",       32,  22, "",  6, -1},
  {DType::Q5_1,        "Q5_1",       32,  24, "",  7, -1},
  {DType::Q8_0,        "Q8_0",       32,  34, "",  8, -1},
  {DType::Q8_1,        "Q8_1",       32,  36, "",  9, -1},
  {DType::Q2_K,        "Q2_K",      256,  84, "", 10, -1},
  {DType::Q3_K,        "Q3_K",      256, 110, "", 11, -1},
  {DType::Q4_K,        "Q4_K",      256, 144, "", 12, -1},
  {DType::Q5_K,        "Q5_K",      256, 176, "", 13, -1},
  {DType::Q6_K,        "Q6_K",      256, 210, "", 14, -1},
  {DType::Q8_K,        "Q8_K",      256, 292, "", 15, -1},
  {DType::IQ2_XXS,     "IQ2_XXS",   256,  66, "", 16, -1},
  {DType::IQ2_XS,      "IQ2_XS",    256,  74, "", 17, -1},
  {DType::IQ3_XXS,     "IQ3_XXS",   256,  98, "", 18, -1},
  {DType::IQ1_S,       "IQ1_S",     256,  50, "", 19, -1},
  {DType::IQ4_NL,      "IQ4_NL",     32,  18, "", 20, -1},
  {DType::IQ3_S,       "IQ3_S",     256, 110, "", 21, -1},
  {DType::IQ2_S,       "IQ2_S",     256,  82, "", 22, -1},
  {DType::IQ4_XS,      "IQ4_XS",    256, 136, "", 23, -1},
  {DType::IQ1_M,       "IQ1_M",     256,  56, "", 29, -1},
  {DType::TQ1_0,       "TQ1_0",     256,  54, "", 34, -1},
  {DType::TQ2_0,       "TQ2_0",     256,  66, "", 35, -1},
  {DType::MXFP4,       "MXFP4",      32,  17, "", 39, -1},  // E8M0 scale + 16 bytes of E2M1 (gpt-oss)
  {DType::NVFP4,       "NVFP4",      64,  36, "", 40, -1},  // 4 UE4M3 scales + 32 bytes of E2M1
  {DType::Q1_0,        "Q1_0",      128,  18, "", 41, -1},
  {DType::Q2_0,        "Q2_0",       64,  18, "", 42, -1},
}};
// clang-format on

constexpr const DTypeInfo& dtype_info(DType t) { return kDTypes[static_cast<size_t>(t)]; }

namespace detail {
constexpr bool registry_is_indexed_by_enum() {
  for (size_t i = 0; i < kDTypes.size(); ++i) {
    if (static_cast<size_t>(kDTypes[i].dtype) != i) return false;
  }
  return true;
}
}  // namespace detail
static_assert(detail::registry_is_indexed_by_enum(), "kDTypes rows must follow the DType enum order");
static_assert(kDTypes.size() == static_cast<size_t>(DType::Count));
// Pinned sizes (ggml-common.h block structs; gguf-py GGML_QUANT_SIZES).
static_assert(dtype_info(DType::Q4_0).block_bytes == 2 + 32 / 2);
static_assert(dtype_info(DType::Q4_1).block_bytes == 2 * 2 + 32 / 2);
static_assert(dtype_info(DType::Q5_0).block_bytes == 2 + 4 + 32 / 2);
static_assert(dtype_info(DType::Q5_1).block_bytes == 2 * 2 + 4 + 32 / 2);
static_assert(dtype_info(DType::Q8_0).block_bytes == 2 + 32);
static_assert(dtype_info(DType::Q2_K).block_bytes == 256 / 16 + 256 / 4 + 2 * 2);
static_assert(dtype_info(DType::Q3_K).block_bytes == 256 / 8 + 256 / 4 + 12 + 2);
static_assert(dtype_info(DType::Q4_K).block_bytes == 2 * 2 + 12 + 256 / 2);
static_assert(dtype_info(DType::Q5_K).block_bytes == 2 * 2 + 12 + 256 / 8 + 256 / 2);
static_assert(dtype_info(DType::Q6_K).block_bytes == 256 / 2 + 256 / 4 + 256 / 16 + 2);
static_assert(dtype_info(DType::Q8_K).block_bytes == 4 + 256 + 2 * 256 / 16);
static_assert(dtype_info(DType::IQ4_NL).block_bytes == 2 + 32 / 2);
static_assert(dtype_info(DType::IQ4_XS).block_bytes == 2 + 2 + 256 / 64 + 256 / 2);
static_assert(dtype_info(DType::TQ2_0).block_bytes == 256 / 4 + 2);

std::optional<DType> dtype_from_safetensors_name(std::string_view name);
std::optional<DType> dtype_from_ggml_id(int64_t id);
// Parses ckpt display names case-insensitively ("f16", "Q4_K"); for CLI flags.
std::optional<DType> dtype_from_name(std::string_view name);

inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
inline bool is_block_quantized(DType t) { return dtype_info(t).ggml_id >= 0 && dtype_info(t).block_elems > 1; }

// Bytes needed for `n_elements` of `t`; nullopt when n_elements is not a whole number of blocks or
// the product overflows.
std::optional<uint64_t> dtype_bytes_for(DType t, uint64_t n_elements);

}  // namespace ckpt
