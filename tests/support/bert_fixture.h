// A tiny BertForMaskedLM written by the tests (klue/bert-base's layout: the encoder under "bert.", an
// MLM head llama.cpp drops) with its own WordPiece tokenizer.json: the specials in klue's order, a few
// words, and every letter as a word start and a continuation, so any lowercase text tokenizes.
#pragma once

#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "formats/safetensors.h"

namespace ckpt::test {

// The vocabulary, in id order.
inline std::vector<std::string> tiny_bert_vocab() {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "cat", "##ty", ",", "!"};
  for (char c = 'a'; c <= 'z'; ++c) vocab.push_back(std::string(1, c));
  for (char c = 'a'; c <= 'z'; ++c) vocab.push_back("##" + std::string(1, c));
  return vocab;
}

inline int write_tiny_bert(const std::filesystem::path& dir, uint64_t hidden, uint64_t inter, uint64_t layers, uint64_t heads) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const std::vector<std::string> vocab = tiny_bert_vocab();
  std::ofstream(dir / "config.json") << "{\"architectures\": [\"BertForMaskedLM\"], \"model_type\": \"bert\", \"hidden_size\": " << hidden
                                     << ", \"intermediate_size\": " << inter << ", \"num_hidden_layers\": " << layers
                                     << ", \"num_attention_heads\": " << heads << ", \"vocab_size\": " << vocab.size()
                                     << ", \"max_position_embeddings\": 64, \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12"
                                     << ", \"hidden_act\": \"gelu\", \"pad_token_id\": 0}";
  std::string v, added;
  for (size_t i = 0; i < vocab.size(); ++i) v += (i ? ", \"" : "\"") + vocab[i] + "\": " + std::to_string(i);
  for (size_t i = 0; i < 5; ++i) {
    added += std::string(i ? ", " : "") + "{\"id\": " + std::to_string(i) + ", \"content\": \"" + vocab[i] +
             "\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}";
  }
  std::ofstream(dir / "tokenizer.json")
      << "{\"version\": \"1.0\", \"added_tokens\": [" << added << "], "
      << "\"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, \"handle_chinese_chars\": true, \"strip_accents\": null, \"lowercase\": true}, "
      << "\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, "
      << "\"post_processor\": {\"type\": \"TemplateProcessing\", "
      << "\"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}], "
      << "\"pair\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}, "
      << "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 1}}], "
      << "\"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [2], \"tokens\": [\"[CLS]\"]}, \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [3], \"tokens\": [\"[SEP]\"]}}}, "
      << "\"decoder\": {\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true}, "
      << "\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100, \"vocab\": {" << v << "}}}";
  std::ofstream(dir / "tokenizer_config.json")
      << "{\"do_lower_case\": true, \"cls_token\": \"[CLS]\", \"sep_token\": \"[SEP]\", \"mask_token\": \"[MASK]\", \"pad_token\": \"[PAD]\", "
         "\"unk_token\": \"[UNK]\", \"model_max_length\": 64, \"tokenizer_class\": \"BertTokenizer\"}";
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::vector<float>> data;
  data.reserve(24 * layers + 16);
  std::vector<ckpt::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float mean) {
    auto& t = data.emplace_back(shape.size() == 1 ? shape[0] : shape[0] * shape[1]);
    for (auto& x : t) x = mean + normal(rng);
    tensors.push_back({name, ckpt::DType::F32, shape, ckpt::write_bytes_from(std::as_bytes(std::span(t)))});
  };
  const uint64_t n_vocab = vocab.size();
  add("bert.embeddings.word_embeddings.weight", {n_vocab, hidden}, 0);
  add("bert.embeddings.position_embeddings.weight", {64, hidden}, 0);
  add("bert.embeddings.token_type_embeddings.weight", {2, hidden}, 0);
  add("bert.embeddings.LayerNorm.weight", {hidden}, 1);
  add("bert.embeddings.LayerNorm.bias", {hidden}, 0);
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
      add(p + m + ".weight", {hidden, hidden}, 0);
      add(p + m + ".bias", {hidden}, 0);
    }
    for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"}) {
      add(p + n + ".weight", {hidden}, 1);
      add(p + n + ".bias", {hidden}, 0);
    }
    add(p + "intermediate.dense.weight", {inter, hidden}, 0);
    add(p + "intermediate.dense.bias", {inter}, 0);
    add(p + "output.dense.weight", {hidden, inter}, 0);
    add(p + "output.dense.bias", {hidden}, 0);
  }
  add("cls.predictions.bias", {n_vocab}, 0);
  add("cls.predictions.transform.dense.weight", {hidden, hidden}, 0);
  ckpt::write_safetensors((dir / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  return 0;
}

}  // namespace ckpt::test
