// Tokenizer metadata against independent references: llama.cpp's vocab GGUF built from the same
// SentencePiece model, and GPT-2's vocab.json / merges.txt.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/tokenizer_meta.h"
#include "formats/gguf.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

TEST(Tokenizer, SentencePieceModelMatchesLlamaCppsVocabGguf) {
  CKPT_SHARED_OR_SKIP(model_path, "karpathy-llama2c-tokenizer/tokenizer.model");
  CKPT_SHARED_OR_SKIP(gguf_path, "llama.cpp-vocab-ggufs/ggml-vocab-llama-spm.gguf");
  const TokenizerMeta meta = read_sentencepiece_model(model_path);
  const GgufFile ref = read_gguf(gguf_path);
  const auto& tokens = ref.find_kv("tokenizer.ggml.tokens")->value.array();
  const auto& scores = ref.find_kv("tokenizer.ggml.scores")->value.array();
  const auto& types = ref.find_kv("tokenizer.ggml.token_type")->value.array();
  ASSERT_EQ(meta.tokens.size(), 32000u);
  ASSERT_EQ(tokens.count, 32000u);
  EXPECT_EQ(meta.tokens, tokens.string_list());
  for (size_t i = 0; i < 32000; ++i) {
    ASSERT_EQ(meta.scores[i], scores.at<float>(i)) << i;
    ASSERT_EQ(static_cast<int32_t>(meta.types[i]), types.at<int32_t>(i)) << i;
  }
  EXPECT_EQ(meta.bos_id, 1u);
  EXPECT_EQ(meta.eos_id, 2u);
  EXPECT_EQ(meta.unk_id, 0u);
  EXPECT_FALSE(meta.pad_id);  // pad_id -1 in the model
}

TEST(Tokenizer, Gpt2TokenizerJsonMatchesVocabAndMergesFiles) {
  CKPT_SHARED_OR_SKIP(dir, "lm-buddy-fake_gpt2");
  const auto meta = read_hf_tokenizer(dir, dir + "/config.json", 50257);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->model, "gpt2");
  EXPECT_EQ(meta->pre, "gpt-2");
  nlohmann::json vocab = nlohmann::json::parse(std::ifstream(dir + "/vocab.json"));
  ASSERT_EQ(meta->tokens.size(), vocab.size());
  for (const auto& [text, id] : vocab.items()) ASSERT_EQ(meta->tokens[id.get<size_t>()], text);
  std::ifstream merges_file(dir + "/merges.txt");
  std::vector<std::string> merges;
  for (std::string line; std::getline(merges_file, line);) {
    if (!line.empty() && !line.starts_with("#version")) merges.push_back(line);
  }
  EXPECT_EQ(meta->merges, merges);
  EXPECT_EQ(meta->types[50256], TokenType::Control);  // <|endoftext|> is an added special token
  EXPECT_EQ(meta->types[0], TokenType::Normal);
  EXPECT_EQ(meta->bos_id, 50256u);
  EXPECT_EQ(meta->eos_id, 50256u);
  EXPECT_TRUE(meta->scores.empty());
}

TEST(Tokenizer, SentencePieceStyleTokenizerJson) {
  const std::string dir = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";
  const auto meta = read_hf_tokenizer(dir, dir + "/config.json", 512);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->model, "llama");
  EXPECT_EQ(meta->tokens.size(), 512u);
  EXPECT_EQ(meta->tokens[3], "<0x00>");
  EXPECT_EQ(meta->types[3], TokenType::Byte);
  EXPECT_EQ(meta->types[0], TokenType::Unknown);  // the model's unk_token
  EXPECT_EQ(meta->types[1], TokenType::Control);
  EXPECT_EQ(meta->add_bos, true);
  EXPECT_EQ(meta->add_eos, false);
  EXPECT_EQ(meta->bos_id, 1u);
  EXPECT_FALSE(meta->chat_template.empty());
  // The first merge ("\u2581 t") makes the highest-scoring merged token.
  nlohmann::json tok = nlohmann::json::parse(std::ifstream(dir + "/tokenizer.json"));
  const std::string first = tok["model"]["merges"][0];
  const std::string merged = first.substr(0, first.find(' ')) + first.substr(first.find(' ') + 1);
  const size_t id = tok["model"]["vocab"][merged];
  EXPECT_EQ(meta->scores[id], -1.0f);
  EXPECT_TRUE(meta->merges.empty());
}

}  // namespace
}  // namespace ckpt
