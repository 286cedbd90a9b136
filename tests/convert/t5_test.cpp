// T5 (t5-small's layout) converted as llama.cpp's T5Model does: the shared embedding written once, the
// encoder/decoder tensor names and keys, the Unigram spiece.model as tokenizer "t5" (scores, types,
// padding to vocab_size, the normalizer flags). --to hf and run refuse T5 by name. (That llama.cpp
// loads, tokenizes, encodes and decodes it: tests/interop t5.)
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "formats/tokenizer_meta.h"
#include "runtime/runtime.h"
#include "tests/support/t5_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

TEST(T5, ConvertsLikeLlamaCpp) {
  test::TempDir tmp;
  test::write_tiny_t5(tmp.file("t5"));
  ConvertOptions o;
  o.input = tmp.file("t5");
  o.output = tmp.file("t.gguf");
  o.outtype = "f32";
  convert(o);
  const GgufFile g = read_gguf(tmp.file("t.gguf"));
  EXPECT_EQ(*g.find_kv("general.architecture")->value.as_string(), "t5");
  EXPECT_EQ(g.find_kv("t5.decoder_block_count")->value.as_u64(), 2u);
  EXPECT_EQ(g.find_kv("t5.attention.relative_buckets_count")->value.as_u64(), 32u);
  EXPECT_EQ(g.find_kv("t5.attention.key_length")->value.as_u64(), 8u);
  EXPECT_EQ(g.find_kv("t5.decoder_start_token_id")->value.as_u64(), 0u);
  // One token_embd (from shared.weight; encoder.embed_tokens is the same tensor saved again), an output head.
  size_t embd = 0;
  for (const auto& t : g.tensors) embd += t.name == "token_embd.weight";
  EXPECT_EQ(embd, 1u);
  ASSERT_TRUE(g.find_tensor("output.weight"));
  const auto* rel = g.find_tensor("enc.blk.0.attn_rel_b.weight");
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->ne, (std::vector<uint64_t>{4, 32}));
  EXPECT_FALSE(g.find_tensor("enc.blk.1.attn_rel_b.weight"));
  ASSERT_TRUE(g.find_tensor("dec.blk.1.cross_attn_o.weight"));

  const auto meta = tokenizer_from_gguf(g);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->model, "t5");
  const auto pieces = test::tiny_t5_pieces();
  ASSERT_EQ(meta->tokens.size(), 40u) << "padded to config.json's vocab_size";
  for (size_t i = 0; i < pieces.size(); ++i) {
    EXPECT_EQ(meta->tokens[i], std::get<0>(pieces[i]));
    EXPECT_EQ(meta->scores[i], std::get<1>(pieces[i]));
    EXPECT_EQ(static_cast<int>(meta->types[i]), std::get<2>(pieces[i]));
  }
  EXPECT_EQ(meta->tokens[39], "[PAD39]");
  EXPECT_EQ(meta->eos_id, 1u);
  EXPECT_EQ(meta->unk_id, 2u);
  EXPECT_EQ(meta->pad_id, 0u);
  EXPECT_FALSE(meta->bos_id) << "T5 has no BOS";
  EXPECT_EQ(meta->add_eos, true);
  EXPECT_EQ(std::get<bool>(g.find_kv("tokenizer.ggml.remove_extra_whitespaces")->value.data), true);
  EXPECT_EQ(std::get<bool>(g.find_kv("tokenizer.ggml.add_space_prefix")->value.data), true);

  ConvertOptions back = o;
  back.input = tmp.file("t.gguf");
  back.output = tmp.file("back");
  back.to = "hf";
  back.outtype = "";
  const Error e = test::expect_error(ErrorCode::Unsupported, [&] { convert(back); });
  EXPECT_NE(std::string(e.what()).find("'t5' cannot be written as an HF checkpoint"), std::string::npos) << e.what();
  test::expect_error(ErrorCode::Unsupported, [&] { runtime::load_model(tmp.file("t.gguf")); });
}

}  // namespace
}  // namespace ckpt
