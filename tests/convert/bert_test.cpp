// BERT (klue/bert-base's layout) converted as llama.cpp's BertModel does: the WordPiece vocabulary in
// phantom-space form with [CLS]/[SEP]/[MASK] ids, the encoder keys, lookup tables kept F32, the MLM
// head and pooler dropped; --to hf writes a BERT directory that converts back to the same GGUF. (That
// llama.cpp loads it, tokenizes as WordPiece and embeds: tests/interop bert.)
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "formats/tokenizer_meta.h"
#include "runtime/runtime.h"
#include "tests/support/bert_fixture.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

ConvertOptions to(const std::string& in, const std::string& out, const std::string& outtype) {
  ConvertOptions o;
  o.input = in;
  o.output = out;
  o.outtype = outtype;
  o.model_name = "tiny-bert";
  return o;
}

TEST(Bert, ConvertsLikeLlamaCppAndBack) {
  test::TempDir tmp;
  test::write_tiny_bert(tmp.file("bert"), 32, 64, 2, 2);
  convert(to(tmp.file("bert"), tmp.file("b.gguf"), "f16"));
  const GgufFile g = read_gguf(tmp.file("b.gguf"));
  EXPECT_EQ(*g.find_kv("general.architecture")->value.as_string(), "bert");
  EXPECT_EQ(std::get<bool>(g.find_kv("bert.attention.causal")->value.data), false);
  EXPECT_EQ(g.find_kv("tokenizer.ggml.token_type_count")->value.as_u64(), 2u);
  EXPECT_EQ(g.find_tensor("position_embd.weight")->dtype, DType::F32);
  EXPECT_EQ(g.find_tensor("token_types.weight")->dtype, DType::F32);
  EXPECT_EQ(g.find_tensor("blk.1.ffn_up.weight")->dtype, DType::F16);
  EXPECT_EQ(g.tensors.size(), 5u + 2 * 16) << "the MLM head is dropped";

  const auto meta = tokenizer_from_gguf(g);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->model, "bert");
  const auto vocab = test::tiny_bert_vocab();
  ASSERT_EQ(meta->tokens.size(), vocab.size());
  // Specials as they are; "##x" -> "x"; "x" -> U+2581 "x".
  EXPECT_EQ(meta->tokens[2], "[CLS]");
  EXPECT_EQ(meta->types[2], TokenType::Control);
  EXPECT_EQ(meta->tokens[5], "\u2581hello");
  EXPECT_EQ(meta->tokens[9], "ty");
  EXPECT_EQ(meta->tokens[12], "\u2581a");
  EXPECT_EQ(meta->tokens[38], "a");
  EXPECT_EQ(meta->cls_id, 2u);
  EXPECT_EQ(meta->sep_id, 3u);
  EXPECT_EQ(meta->mask_id, 4u);
  EXPECT_EQ(meta->bos_id, 2u) << "CLS stands in for BOS";
  EXPECT_EQ(meta->eos_id, 3u) << "SEP stands in for EOS";
  EXPECT_EQ(meta->add_bos, true);
  EXPECT_EQ(meta->add_eos, true);
  EXPECT_EQ(meta->add_sep, false);

  ConvertOptions back = to(tmp.file("b.gguf"), tmp.file("back"), "");
  back.to = "hf";
  convert(back);
  const auto tok = nlohmann::json::parse(std::ifstream(tmp.file("back/tokenizer.json")));
  EXPECT_EQ(tok["model"]["type"], "WordPiece");
  for (size_t i = 0; i < vocab.size(); ++i) EXPECT_EQ(tok["model"]["vocab"][vocab[i]], i) << vocab[i];
  convert(to(tmp.file("back"), tmp.file("again.gguf"), "f16"));
  EXPECT_EQ(test::read_file_bytes(tmp.file("b.gguf")), test::read_file_bytes(tmp.file("again.gguf")));

  const Error e = test::expect_error(ErrorCode::Unsupported, [&] { runtime::load_model(tmp.file("b.gguf")); });
  EXPECT_NE(std::string(e.what()).find("'bert' has no forward pass"), std::string::npos) << e.what();
}

}  // namespace
}  // namespace ckpt
