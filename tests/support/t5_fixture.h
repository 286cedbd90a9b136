// A tiny T5ForConditionalGeneration written by the tests, with its own SentencePiece Unigram
// spiece.model (T5's special pieces first, a few whole words, single letters), built here byte by byte
// from sentencepiece_model.proto: pieces, trainer_spec (Unigram, pad 0, eos 1, unk 2, no bos) and
// normalizer_spec (add_dummy_prefix, remove_extra_whitespaces).
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "formats/safetensors.h"

namespace ckpt::test {

// (piece, score, type: 1 normal, 2 unknown, 3 control)
inline std::vector<std::tuple<std::string, float, int>> tiny_t5_pieces() {
  std::vector<std::tuple<std::string, float, int>> p = {{"<pad>", 0.0f, 3}, {"</s>", 0.0f, 3}, {"<unk>", 0.0f, 2}};
  for (const char* w : {"\u2581hello", "\u2581world", "\u2581the", "\u2581cat"}) p.emplace_back(w, -1.0f, 1);
  p.emplace_back("\u2581", -4.0f, 1);
  for (char c = 'a'; c <= 'z'; ++c) p.emplace_back(std::string(1, c), -5.0f, 1);
  return p;
}

inline void proto_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
inline void proto_bytes(std::string& out, uint32_t field, const std::string& b) {
  proto_varint(out, (uint64_t{field} << 3) | 2);
  proto_varint(out, b.size());
  out += b;
}
inline void proto_int(std::string& out, uint32_t field, int64_t v) {
  proto_varint(out, uint64_t{field} << 3);
  proto_varint(out, static_cast<uint64_t>(v));  // negatives as 10-byte two's complement, as int32 fields are
}

inline std::string tiny_t5_spiece_model() {
  std::string model;
  for (const auto& [text, score, type] : tiny_t5_pieces()) {
    std::string piece;
    proto_bytes(piece, 1, text);
    proto_varint(piece, (2 << 3) | 5);
    char f[4];
    std::memcpy(f, &score, 4);
    piece.append(f, 4);
    proto_int(piece, 3, type);
    proto_bytes(model, 1, piece);
  }
  std::string trainer;
  proto_int(trainer, 3, 1);  // model_type UNIGRAM
  proto_int(trainer, 40, 2);
  proto_int(trainer, 41, -1);
  proto_int(trainer, 42, 1);
  proto_int(trainer, 43, 0);
  proto_bytes(model, 2, trainer);
  std::string normalizer;
  proto_bytes(normalizer, 1, "identity");
  proto_int(normalizer, 3, 1);
  proto_int(normalizer, 4, 1);
  proto_bytes(model, 3, normalizer);
  return model;
}

// d_model 32, 4 heads of 8, 2 encoder and 2 decoder blocks, a vocabulary padded to 40 (the pieces are 34).
inline void write_tiny_t5(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  constexpr uint64_t d = 32, ff = 64, heads = 4, kv = 8, buckets = 32, vocab = 40;
  std::ofstream(dir / "config.json")
      << "{\"architectures\": [\"T5ForConditionalGeneration\"], \"model_type\": \"t5\", \"d_model\": " << d << ", \"d_ff\": " << ff
      << ", \"d_kv\": " << kv << ", \"num_heads\": " << heads << ", \"num_layers\": 2, \"num_decoder_layers\": 2"
      << ", \"relative_attention_num_buckets\": " << buckets << ", \"relative_attention_max_distance\": 128, \"vocab_size\": " << vocab
      << ", \"decoder_start_token_id\": 0, \"eos_token_id\": 1, \"pad_token_id\": 0, \"layer_norm_epsilon\": 1e-06"
      << ", \"feed_forward_proj\": \"relu\", \"tie_word_embeddings\": false, \"n_positions\": 512}";
  std::ofstream(dir / "spiece.model", std::ios::binary) << tiny_t5_spiece_model();
  std::ofstream(dir / "tokenizer_config.json") << "{\"eos_token\": \"</s>\", \"unk_token\": \"<unk>\", \"pad_token\": \"<pad>\", \"model_max_length\": 512}";
  std::ofstream(dir / "tokenizer.json")
      << "{\"version\": \"1.0\", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
         "{\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}], \"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
         "{\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 0}}, "
         "{\"SpecialToken\": {\"id\": \"</s>\", \"type_id\": 0}}]}, \"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": []}}";
  std::mt19937 rng(19);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<std::vector<float>> data;
  data.reserve(64);
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float mean) {
    auto& t = data.emplace_back(shape.size() == 1 ? shape[0] : shape[0] * shape[1]);
    for (auto& x : t) x = mean + normal(rng);
    tensors.push_back({name, DType::F32, shape, write_bytes_from(std::as_bytes(std::span(t)))});
  };
  add("shared.weight", {vocab, d}, 0);
  tensors.push_back({"encoder.embed_tokens.weight", DType::F32, {vocab, d}, write_bytes_from(std::as_bytes(std::span(data.front())))});
  add("lm_head.weight", {vocab, d}, 0);
  auto attention = [&](const std::string& p, bool rel_b) {
    for (const char* m : {"q", "k", "v"}) add(p + m + ".weight", {heads * kv, d}, 0);
    add(p + "o.weight", {d, heads * kv}, 0);
    if (rel_b) add(p + "relative_attention_bias.weight", {buckets, heads}, 0);
  };
  for (int b = 0; b < 2; ++b) {
    const std::string e = "encoder.block." + std::to_string(b) + ".layer.";
    attention(e + "0.SelfAttention.", b == 0);
    add(e + "0.layer_norm.weight", {d}, 1);
    add(e + "1.DenseReluDense.wi.weight", {ff, d}, 0);
    add(e + "1.DenseReluDense.wo.weight", {d, ff}, 0);
    add(e + "1.layer_norm.weight", {d}, 1);
    const std::string x = "decoder.block." + std::to_string(b) + ".layer.";
    attention(x + "0.SelfAttention.", b == 0);
    add(x + "0.layer_norm.weight", {d}, 1);
    attention(x + "1.EncDecAttention.", false);
    add(x + "1.layer_norm.weight", {d}, 1);
    add(x + "2.DenseReluDense.wi.weight", {ff, d}, 0);
    add(x + "2.DenseReluDense.wo.weight", {d, ff}, 0);
    add(x + "2.layer_norm.weight", {d}, 1);
  }
  add("encoder.final_layer_norm.weight", {d}, 1);
  add("decoder.final_layer_norm.weight", {d}, 1);
  write_safetensors((dir / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
}

}  // namespace ckpt::test
