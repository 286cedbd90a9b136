// The dtype registry against the numbers published in the specs (typed here from
// ../shared/specs/gguf-llama-cpp.md §1.3 and safetensors-bnb-peft.md §A.2, not from the code).
#include <gtest/gtest.h>

#include <set>

#include "formats/dtype.h"

namespace ckpt {

TEST(DType, GgmlIdsBlockSizesAndBytesMatchTheSpecTable) {
  struct Row {
    int id;
    const char* name;
    uint32_t block;
    uint32_t bytes;
  };
  const Row spec[] = {{0, "F32", 1, 4},        {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
                      {6, "Q5_0", 32, 22},     {7, "Q5_1", 32, 24},      {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 36},
                      {10, "Q2_K", 256, 84},   {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
                      {14, "Q6_K", 256, 210},  {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
                      {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},  {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
                      {22, "IQ2_S", 256, 82},  {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},        {25, "I16", 1, 2},
                      {26, "I32", 1, 4},       {27, "I64", 1, 8},        {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
                      {30, "BF16", 1, 2},      {34, "TQ1_0", 256, 54},   {35, "TQ2_0", 256, 66},
                      {39, "MXFP4", 32, 17},   {40, "NVFP4", 64, 36},    {41, "Q1_0", 128, 18},
                      {42, "Q2_0", 64, 18}};
  std::set<int> seen;
  for (const auto& row : spec) {
    const auto t = dtype_from_ggml_id(row.id);
    ASSERT_TRUE(t) << row.name;
    EXPECT_EQ(dtype_name(*t), row.name);
    EXPECT_EQ(dtype_info(*t).block_elems, row.block) << row.name;
    EXPECT_EQ(dtype_info(*t).block_bytes, row.bytes) << row.name;
    seen.insert(row.id);
  }
  for (int retired : {4, 5, 31, 32, 33, 36, 37, 38, 43, -1, 1000}) {
    EXPECT_FALSE(dtype_from_ggml_id(retired)) << retired;
  }
  // Every ggml type in the registry appears in the spec table.
  for (const auto& info : kDTypes) {
    if (info.ggml_id >= 0) EXPECT_TRUE(seen.count(info.ggml_id)) << info.name;
  }
}

TEST(DType, SafetensorsNamesBitsAndWriterOrder) {
  // Spec §A.2: enum order (the writer sorts by it, descending) and bits per element.
  const std::pair<const char*, double> in_enum_order[] = {
      {"BOOL", 8}, {"F4", 4},  {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},   {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8},
      {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16}, {"U16", 16}, {"F16", 16}, {"BF16", 16},
      {"I32", 32}, {"U32", 32}, {"F32", 32}, {"C64", 64},  {"F64", 64},  {"I64", 64},  {"U64", 64}};
  int rank = 0;
  for (const auto& [name, bits] : in_enum_order) {
    const auto t = dtype_from_safetensors_name(name);
    ASSERT_TRUE(t) << name;
    const auto& info = dtype_info(*t);
    EXPECT_EQ(info.safetensors_rank, rank++) << name;
    EXPECT_DOUBLE_EQ(8.0 * info.block_bytes / info.block_elems, bits) << name;
  }
  EXPECT_FALSE(dtype_from_safetensors_name("f32"));  // case matters in files
  EXPECT_FALSE(dtype_from_safetensors_name("Q4_0"));
  EXPECT_EQ(dtype_from_name("q4_k"), DType::Q4_K);  // but not on the command line
}

TEST(DType, BytesForRequiresWholeBlocksAndCatchesOverflow) {
  EXPECT_EQ(dtype_bytes_for(DType::F4, 6), 3u);
  EXPECT_FALSE(dtype_bytes_for(DType::F4, 3));  // safetensors MisalignedSlice
  EXPECT_EQ(dtype_bytes_for(DType::F6_E2M3, 8), 6u);
  EXPECT_EQ(dtype_bytes_for(DType::Q4_K, 512), 288u);
  EXPECT_FALSE(dtype_bytes_for(DType::Q4_K, 100));
  EXPECT_FALSE(dtype_bytes_for(DType::F64, uint64_t{1} << 62));
  EXPECT_EQ(dtype_bytes_for(DType::BF16, 0), 0u);
}

}  // namespace ckpt
