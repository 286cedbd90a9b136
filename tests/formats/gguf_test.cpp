// GGUF: round trips of every KV type and every ggml tensor type, the real files in ../shared/data
// read with the counts their sources state, and byte-identical rewrites of llama.cpp-written files.
#include <gtest/gtest.h>

#include <random>

#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using test::memory_file;

std::vector<std::byte> serialize(const std::vector<GgufKv>& kvs, const std::vector<GgufTensorToWrite>& tensors,
                                 uint32_t version = 3) {
  BufferSink sink;
  write_gguf(sink, kvs, tensors, version);
  return sink.take();
}

std::vector<GgufKv> every_kv_type() {
  std::vector<GgufKv> kvs;
  auto add = [&](std::string key, GgufValue v) { kvs.push_back({std::move(key), std::move(v), 0}); };
  add("u8", {uint8_t{200}});
  add("i8", {int8_t{-100}});
  add("u16", {uint16_t{60000}});
  add("i16", {int16_t{-30000}});
  add("u32", {uint32_t{4000000000u}});
  add("i32", {int32_t{-2000000000}});
  add("f32", {1.5f});
  add("bool.true", {true});
  add("bool.false", {false});
  add("str", {std::string("héllo\0world", 12)});
  add("str.empty", {std::string()});
  add("u64", {uint64_t{1} << 63});
  add("i64", {int64_t{-(int64_t{1} << 62)}});
  add("f64", {-0.125});
  const float floats[] = {0.f, -1.f, 3.25f};
  const int32_t ints[] = {1, -2, 3};
  const uint8_t bools[] = {1, 0, 1};
  const double doubles[] = {1e300, -2.0};
  const uint64_t u64s[] = {0, UINT64_MAX};
  add("arr.f32", GgufValue::numeric_array<float>(GgufType::F32, floats));
  add("arr.i32", GgufValue::numeric_array<int32_t>(GgufType::I32, ints));
  add("arr.bool", GgufValue::numeric_array<uint8_t>(GgufType::Bool, bools));
  add("arr.f64", GgufValue::numeric_array<double>(GgufType::F64, doubles));
  add("arr.u64", GgufValue::numeric_array<uint64_t>(GgufType::U64, u64s));
  add("arr.u8.empty", GgufValue::numeric_array<uint8_t>(GgufType::U8, {}));
  add("arr.str", GgufValue::string_array({"<unk>", "", "▁the"}));
  add("general.alignment", {uint32_t{64}});
  return kvs;
}

TEST(Gguf, RoundTripEveryKvTypeAndEveryTensorType) {
  std::mt19937_64 rng(test::test_seed());
  const auto kvs = every_kv_type();
  std::vector<std::vector<std::byte>> buffers;
  std::vector<GgufTensorToWrite> tensors;
  for (const auto& info : kDTypes) {
    if (info.ggml_id < 0) continue;
    const uint64_t b = info.block_elems;
    std::vector<std::vector<uint64_t>> shapes = {{b}, {2 * b, 3}, {b, 2, 2}, {b, 1, 2, 3}, {b, 0}};
    if (b == 1) shapes.push_back({});  // n_dims 0: a scalar
    for (size_t s = 0; s < shapes.size(); ++s) {
      const uint64_t n = gguf_tensor_bytes("t", shapes[s], info.dtype);
      auto& buf = buffers.emplace_back(n);
      for (auto& x : buf) x = static_cast<std::byte>(rng());
      tensors.push_back({std::string(info.name) + "." + std::to_string(s), shapes[s], info.dtype, write_bytes_from(buf)});
    }
  }
  for (uint32_t version : {2u, 3u}) {
    const auto bytes = serialize(kvs, tensors, version);
    const auto file = read_gguf(memory_file(bytes));
    EXPECT_EQ(file.version, version);
    EXPECT_EQ(file.alignment, 64u);
    EXPECT_EQ(file.data_offset % 64, 0u);
    ASSERT_EQ(file.kvs.size(), kvs.size());
    for (size_t i = 0; i < kvs.size(); ++i) {
      EXPECT_EQ(file.kvs[i].key, kvs[i].key);
      EXPECT_TRUE(file.kvs[i].value == kvs[i].value) << kvs[i].key;
    }
    ASSERT_EQ(file.tensors.size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = file.tensors[i];
      EXPECT_EQ(t.name, tensors[i].name);
      EXPECT_EQ(t.ne, tensors[i].ne);
      EXPECT_EQ(t.dtype, tensors[i].dtype);
      EXPECT_EQ(t.offset_in_data % 64, 0u);
      const auto d = file.data(t);
      ASSERT_EQ(d.size(), buffers[i].size());
      EXPECT_TRUE(std::equal(d.begin(), d.end(), buffers[i].begin())) << t.name;
      // The format-independent view reverses ne into a PyTorch shape.
      const TensorInfo info = file.tensor_info(t);
      EXPECT_EQ(info.shape, std::vector<uint64_t>(t.ne.rbegin(), t.ne.rend()));
    }
    // The file ends padded, as ggml's writer does.
    EXPECT_EQ(bytes.size() % 64, 0u);
  }
}

// Hand-assembled bytes: the writer's output is checked against the layout in the spec, not itself.
TEST(Gguf, WriterBytesMatchTheSpecLayout) {
  const std::vector<std::byte> data(8, std::byte{0xAB});
  const auto bytes = serialize({{"general.architecture", {std::string("llama")}, 0}},
                               {{"w", {2}, DType::F32, write_bytes_from(data)}});
  test::Bytes expected;
  expected.raw("GGUF").le<uint32_t>(3).le<int64_t>(1).le<int64_t>(1);
  expected.gguf_str("general.architecture").le<int32_t>(8).gguf_str("llama");
  expected.gguf_str("w").le<uint32_t>(1).le<int64_t>(2).le<int32_t>(0).le<uint64_t>(0);
  expected.pad_to(32).raw(data).pad_to(32);
  EXPECT_EQ(bytes, expected.bytes());
}

TEST(Gguf, ReadsStories260KConvertedByLlamaCpp) {
  CKPT_SHARED_OR_SKIP(path, "karpathy-stories260K/stories260K-converted-by-llama.cpp-c392e50.gguf");
  const auto file = read_gguf(path);
  // SOURCES.md: GGUF v3, 48 F32 tensors, 1,185,376 bytes; README: dim 64, 5 layers, 8 heads, 4 kv heads, vocab 512.
  EXPECT_EQ(file.version, 3u);
  EXPECT_EQ(file.file->size(), 1185376u);
  ASSERT_EQ(file.tensors.size(), 48u);
  for (const auto& t : file.tensors) EXPECT_EQ(t.dtype, DType::F32) << t.name;
  EXPECT_EQ(file.find_tensor("token_embd.weight")->ne, (std::vector<uint64_t>{64, 512}));
  EXPECT_EQ(file.find_tensor("blk.4.attn_k.weight")->ne, (std::vector<uint64_t>{64, 32}));  // 4 kv heads x 8
  EXPECT_EQ(file.find_kv("llama.block_count")->value.as_u64(), 5u);
  EXPECT_EQ(file.find_kv("llama.attention.head_count")->value.as_u64(), 8u);
  EXPECT_EQ(file.find_kv("llama.attention.head_count_kv")->value.as_u64(), 4u);
  EXPECT_EQ(file.find_kv("tokenizer.ggml.tokens")->value.array().count, 512u);
  EXPECT_EQ(file.find_kv("tokenizer.ggml.tokens")->value.array().string_at(1), "<s>");
  uint64_t params = 0;
  for (const auto& t : file.tensors) params += *shape_numel(t.ne);
  // Data is F32: the tensor bytes are 4 bytes a parameter and fill the file after the header.
  EXPECT_EQ(params * 4 + file.data_offset, file.file->size());
}

TEST(Gguf, ReadsVocabOnlyFilesFromLlamaCpp) {
  CKPT_SHARED_OR_SKIP(spm, "llama.cpp-vocab-ggufs/ggml-vocab-llama-spm.gguf");
  const auto llama = read_gguf(spm);
  EXPECT_EQ(llama.tensors.size(), 0u);
  EXPECT_EQ(llama.kvs.size(), 22u);  // spec §8
  EXPECT_EQ(*llama.find_kv("general.name")->value.as_string(), "llama-spm");
  EXPECT_EQ(llama.find_kv("llama.feed_forward_length")->value.as_u64(), 11008u);
  EXPECT_EQ(llama.find_kv("tokenizer.ggml.tokens")->value.array().count, 32000u);
  EXPECT_EQ(llama.find_kv("tokenizer.ggml.scores")->value.array().element_type, GgufType::F32);
  EXPECT_EQ(std::get<bool>(llama.find_kv("tokenizer.ggml.add_bos_token")->value.data), true);
  EXPECT_EQ(std::get<bool>(llama.find_kv("tokenizer.ggml.add_eos_token")->value.data), false);

  CKPT_SHARED_OR_SKIP(gpt2_path, "llama.cpp-vocab-ggufs/ggml-vocab-gpt-2.gguf");
  const auto gpt2 = read_gguf(gpt2_path);
  EXPECT_EQ(*gpt2.find_kv("general.architecture")->value.as_string(), "gpt2");
  EXPECT_EQ(*gpt2.find_kv("tokenizer.ggml.model")->value.as_string(), "gpt2");
  EXPECT_EQ(gpt2.find_kv("tokenizer.ggml.merges")->value.array().count, 50000u);
  EXPECT_EQ(gpt2.find_kv("tokenizer.ggml.tokens")->value.array().count, 50257u);
}

TEST(Gguf, RewritingLlamaCppFilesIsByteIdentical) {
  for (const char* rel : {"karpathy-stories260K/stories260K-converted-by-llama.cpp-c392e50.gguf",
                          "llama.cpp-vocab-ggufs/ggml-vocab-llama-spm.gguf", "llama.cpp-vocab-ggufs/ggml-vocab-gpt-2.gguf"}) {
    CKPT_SHARED_OR_SKIP(path, rel);
    const auto file = read_gguf(path);
    std::vector<GgufTensorToWrite> tensors;
    for (const auto& t : file.tensors) tensors.push_back({t.name, t.ne, t.dtype, write_bytes_from(file.data(t))});
    auto rewritten = serialize(file.kvs, tensors, file.version);
    const auto original = file.file->bytes();
    // A vocab-only file ends right after its KVs, without padding to the (empty) data section.
    if (file.tensors.empty() && rewritten.size() > original.size()) rewritten.resize(original.size());
    ASSERT_EQ(rewritten.size(), original.size()) << rel;
    EXPECT_TRUE(std::equal(rewritten.begin(), rewritten.end(), original.begin())) << rel;
  }
}

TEST(Gguf, WriterRefusesWhatLlamaCppRefuses) {
  const std::vector<std::byte> four(4);
  auto write_one = [&](GgufTensorToWrite t, std::vector<GgufKv> kvs = {}) { serialize(kvs, {std::move(t)}); };
  test::expect_error(ErrorCode::InvalidArgument, [&] { write_one({std::string(64, 'n'), {1}, DType::F32, write_bytes_from(four)}); });
  test::expect_error(ErrorCode::BadShape, [&] { write_one({"q", {16}, DType::Q4_0, write_bytes_from(four)}); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { write_one({"t", {1, 1, 1, 1, 1}, DType::F32, write_bytes_from(four)}); });
  test::expect_error(ErrorCode::BadDType, [&] { write_one({"t", {1}, DType::U8, write_bytes_from(four)}); });
  test::expect_error(ErrorCode::InvalidArgument,
                     [&] { write_one({"t", {1}, DType::F32, write_bytes_from(four)}, {{"general.alignment", {uint32_t{48}}, 0}}); });
  test::expect_error(ErrorCode::InvalidArgument,
                     [&] { write_one({"t", {1}, DType::F32, write_bytes_from(four)}, {{"general.alignment", {uint64_t{32}}, 0}}); });
  test::expect_error(ErrorCode::InvalidArgument, [&] {
    serialize({{"k", {uint8_t{1}}, 0}, {"k", {uint8_t{2}}, 0}}, {});
  });
  test::expect_error(ErrorCode::SizeMismatch, [&] { write_one({"t", {2}, DType::F32, write_bytes_from(four)}); });
}

}  // namespace
}  // namespace ckpt
