// TokenizerMeta -> HF tokenizer files, for GGUF -> HF: SentencePiece vocabularies become a
// tokenizer.model (their scores and types survive only there), byte-level BPE becomes tokenizer.json;
// both get a tokenizer_config.json with the special tokens, add_bos/eos and the chat template.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "formats/tokenizer_meta.h"
#include "formats/byte_sink.h"

namespace ckpt {

namespace {

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void tag(std::string& out, uint32_t field, uint32_t wire) { varint(out, (uint64_t{field} << 3) | wire); }
void bytes_field(std::string& out, uint32_t field, const std::string& bytes) {
  tag(out, field, 2);
  varint(out, bytes.size());
  out += bytes;
}

std::string sentencepiece_model_bytes(const TokenizerMeta& meta) {
  std::string model;
  for (size_t i = 0; i < meta.tokens.size(); ++i) {
    std::string piece;
    bytes_field(piece, 1, meta.tokens[i]);
    tag(piece, 2, 5);
    const float score = i < meta.scores.size() ? meta.scores[i] : 0.0f;
    piece.append(reinterpret_cast<const char*>(&score), 4);
    const auto type = i < meta.types.size() ? static_cast<uint64_t>(meta.types[i]) : 1;
    if (type != 1) {  // NORMAL is the proto default
      tag(piece, 3, 0);
      varint(piece, type);
    }
    bytes_field(model, 1, piece);
  }
  std::string trainer;
  tag(trainer, 3, 0);  // model_type = BPE (2); llama's tokenizer.model says BPE
  varint(trainer, 2);
  tag(trainer, 35, 0);  // byte_fallback
  varint(trainer, 1);
  auto id = [&](uint32_t field, const std::optional<uint32_t>& v) {
    tag(trainer, field, 0);
    varint(trainer, v ? uint64_t{*v} : ~uint64_t{0});  // -1 (absent) as a sign-extended int32
  };
  id(40, meta.unk_id);
  id(41, meta.bos_id);
  id(42, meta.eos_id);
  id(43, meta.pad_id);
  bytes_field(model, 2, trainer);
  if (meta.add_space_prefix) {
    std::string normalizer;
    tag(normalizer, 3, 0);
    varint(normalizer, *meta.add_space_prefix ? 1 : 0);
    bytes_field(model, 3, normalizer);
  }
  return model;
}

nlohmann::ordered_json bpe_tokenizer_json(const TokenizerMeta& meta) {
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < meta.tokens.size(); ++i) {
    const auto type = i < meta.types.size() ? meta.types[i] : TokenType::Normal;
    if (type == TokenType::Control || type == TokenType::UserDefined) {
      added.push_back({{"id", i}, {"content", meta.tokens[i]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", type != TokenType::Control}, {"special", type == TokenType::Control}});
    }
    vocab[meta.tokens[i]] = i;
  }
  nlohmann::ordered_json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  nlohmann::ordered_json pre = byte_level;
  static const std::map<std::string, std::string> kRegexes = {
      {"llama-bpe", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
      {"qwen2", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}};
  if (const auto it = kRegexes.find(meta.pre); it != kRegexes.end()) {
    byte_level["use_regex"] = false;
    pre = {{"type", "Sequence"},
           {"pretokenizers",
            {{{"type", "Split"}, {"pattern", {{"Regex", it->second}}}, {"behavior", "Isolated"}, {"invert", false}}, byte_level}}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre},
          {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", meta.merges}}}};
}

// A BERT tokenizer.json from llama.cpp's phantom-space vocabulary: "\u2581word" is a word start
// ("word"), anything else not special a continuation ("##piece").
nlohmann::ordered_json wordpiece_tokenizer_json(const TokenizerMeta& meta) {
  static const std::string kPhantom = "\u2581";
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < meta.tokens.size(); ++i) {
    const auto type = i < meta.types.size() ? meta.types[i] : TokenType::Normal;
    const std::string& t = meta.tokens[i];
    if (type == TokenType::Control) {
      added.push_back({{"id", i}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", false}, {"special", true}});
      vocab[t] = i;
    } else {
      vocab[t.starts_with(kPhantom) ? t.substr(kPhantom.size()) : "##" + t] = i;
    }
  }
  auto special = [&](const std::optional<uint32_t>& id) {
    return id && *id < meta.tokens.size() ? nlohmann::ordered_json{{"SpecialToken", {{"id", meta.tokens[*id]}, {"type_id", 0}}}}
                                          : nlohmann::ordered_json();
  };
  nlohmann::ordered_json post = nullptr;
  if (meta.cls_id && meta.sep_id) {
    const auto cls = special(meta.cls_id), sep = special(meta.sep_id);
    auto sep1 = sep;
    sep1["SpecialToken"]["type_id"] = 1;
    post = {{"type", "TemplateProcessing"},
            {"single", {cls, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, sep}},
            {"pair", {cls, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, sep, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}, sep1}},
            {"special_tokens",
             {{meta.tokens[*meta.cls_id], {{"id", meta.tokens[*meta.cls_id]}, {"ids", {*meta.cls_id}}, {"tokens", {meta.tokens[*meta.cls_id]}}}},
              {meta.tokens[*meta.sep_id], {{"id", meta.tokens[*meta.sep_id]}, {"ids", {*meta.sep_id}}, {"tokens", {meta.tokens[*meta.sep_id]}}}}}}};
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true}, {"strip_accents", nullptr}, {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor", post},
          {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
          {"model",
           {{"type", "WordPiece"}, {"unk_token", meta.unk_id && *meta.unk_id < meta.tokens.size() ? meta.tokens[*meta.unk_id] : "[UNK]"},
            {"continuing_subword_prefix", "##"}, {"max_input_chars_per_word", 100}, {"vocab", vocab}}}};
}

}  // namespace

std::vector<std::string> write_hf_tokenizer(const TokenizerMeta& meta, const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> written;
  if (meta.model == "llama") {
    const auto path = (fs::path(dir) / "tokenizer.model").string();
    write_text_file(path, sentencepiece_model_bytes(meta));
    written.push_back(path);
  } else if (meta.model == "gpt2" || meta.model == "bert") {
    const auto path = (fs::path(dir) / "tokenizer.json").string();
    write_text_file(path, (meta.model == "bert" ? wordpiece_tokenizer_json(meta) : bpe_tokenizer_json(meta)).dump(2) + "\n");
    written.push_back(path);
  } else {
    return written;  // other vocabularies have no HF file ckpt can write
  }
  nlohmann::ordered_json cfg = nlohmann::ordered_json::object();
  auto token = [&](const char* key, const std::optional<uint32_t>& id) {
    if (id && *id < meta.tokens.size()) cfg[key] = meta.tokens[*id];
  };
  token("bos_token", meta.bos_id);
  token("eos_token", meta.eos_id);
  token("unk_token", meta.unk_id);
  token("pad_token", meta.pad_id);
  token("cls_token", meta.cls_id);
  token("sep_token", meta.sep_id);
  token("mask_token", meta.mask_id);
  if (meta.model == "bert") {  // BERT names no bos/eos (CLS and SEP stand in for them)
    cfg.erase("bos_token");
    cfg.erase("eos_token");
    cfg["do_lower_case"] = true;
  }
  if (meta.add_bos && meta.model != "bert") cfg["add_bos_token"] = *meta.add_bos;
  if (meta.add_eos && meta.model != "bert") cfg["add_eos_token"] = *meta.add_eos;
  if (!meta.chat_template.empty()) cfg["chat_template"] = meta.chat_template;
  cfg["tokenizer_class"] = meta.model == "llama" ? "LlamaTokenizer" : meta.model == "bert" ? "BertTokenizer" : "PreTrainedTokenizerFast";
  const auto path = (fs::path(dir) / "tokenizer_config.json").string();
  write_text_file(path, cfg.dump(2) + "\n");
  written.push_back(path);
  return written;
}

}  // namespace ckpt
