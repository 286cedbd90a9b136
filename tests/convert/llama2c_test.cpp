// llama2.c import against llama.cpp's own conversion of the same checkpoint (../shared/data).
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

TEST(Llama2c, TensorsAndVocabularyEqualLlamaCppsConversion) {
  CKPT_SHARED_OR_SKIP(bin, "karpathy-stories260K/stories260K.bin");
  const std::string vocab = test::shared_data("karpathy-stories260K/tok512.bin");
  const std::string reference_path = test::shared_data("karpathy-stories260K/stories260K-converted-by-llama.cpp-c392e50.gguf");
  test::TempDir dir;
  ConvertOptions o;
  o.input = bin;
  o.llama2c_vocab = vocab;
  o.output = dir.file("s.gguf");
  o.outtype = "f32";
  convert(o);
  const GgufFile ours = read_gguf(o.output);
  const GgufFile ref = read_gguf(reference_path);
  ASSERT_EQ(ours.tensors.size(), ref.tensors.size());
  for (const auto& r : ref.tensors) {
    const auto* t = ours.find_tensor(r.name);
    ASSERT_TRUE(t) << r.name;
    EXPECT_EQ(t->ne, r.ne) << r.name;
    EXPECT_EQ(t->dtype, r.dtype) << r.name;
    const auto a = ours.data(*t), b = ref.data(r);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin())) << r.name << " values differ";
  }
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
    ASSERT_TRUE(ours.find_kv(key)) << key;
    EXPECT_TRUE(ours.find_kv(key)->value == ref.find_kv(key)->value) << key;
  }
  for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
                          "llama.attention.head_count_kv", "llama.block_count", "llama.rope.dimension_count",
                          "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"}) {
    ASSERT_TRUE(ours.find_kv(key)) << key;
    EXPECT_EQ(ours.find_kv(key)->value.as_u64(), ref.find_kv(key)->value.as_u64()) << key;
  }
  // llama.cpp's converter writes its default n_ctx (128); ckpt writes the checkpoint's seq_len (512).
  EXPECT_EQ(ours.find_kv("llama.context_length")->value.as_u64(), 512u);
}

TEST(Llama2c, RefusesATruncatedCheckpoint) {
  CKPT_SHARED_OR_SKIP(bin, "karpathy-stories260K/stories260K.bin");
  test::TempDir dir;
  auto bytes = test::read_file_bytes(bin);
  bytes.resize(bytes.size() - 100);
  test::write_file_bytes(dir.file("cut.bin"), bytes);
  ConvertOptions o;
  o.input = dir.file("cut.bin");
  o.llama2c_vocab = test::shared_data("karpathy-stories260K/tok512.bin");
  o.output = dir.file("out.gguf");
  test::expect_error(ErrorCode::IncompleteBuffer, [&] { convert(o); });
  EXPECT_FALSE(std::filesystem::exists(o.output));
}

}  // namespace
}  // namespace ckpt
