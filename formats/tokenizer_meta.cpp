// tokenizer.json / tokenizer_config.json -> TokenizerMeta, and TokenizerMeta -> tokenizer.ggml.* KVs.
#include "formats/tokenizer_meta.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "formats/hf_config.h"
#include "formats/json_header.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

// Pre-tokenizer regexes of the BPE tokenizers llama.cpp knows, by llama.cpp's name for them
// (llama-vocab.cpp LLAMA_VOCAB_PRE_TYPE_*). convert_hf_to_gguf.py identifies them by hashing a test
// encoding; ckpt has no HF tokenizer to run, so it reads the regex itself.
const std::map<std::string, std::string>& known_pre_tokenizer_regexes() {
  static const std::map<std::string, std::string> kRegexes = {
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)", "llama-bpe"},
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)", "qwen2"},
  };
  return kRegexes;
}

std::string detect_bpe_pre(const JsonFile& tok) {
  const auto& pre = tok.json().contains("pre_tokenizer") ? tok.json()["pre_tokenizer"] : nlohmann::ordered_json();
  std::vector<const nlohmann::ordered_json*> parts;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers")) {
    for (const auto& p : pre["pretokenizers"]) parts.push_back(&p);
  } else if (pre.is_object()) {
    parts.push_back(&pre);
  }
  for (const auto* p : parts) {
    if (p->value("type", "") != "Split" || !p->contains("pattern")) continue;
    const auto& pattern = (*p)["pattern"];
    const std::string regex = pattern.is_object() ? pattern.value("Regex", "") : "";
    const auto it = known_pre_tokenizer_regexes().find(regex);
    if (it != known_pre_tokenizer_regexes().end()) return it->second;
    tok.fail("pre_tokenizer", "unknown BPE pre-tokenizer regex " + nlohmann::json(regex).dump() +
                                  "; llama.cpp would tokenize this model differently");
  }
  // A lone ByteLevel pre-tokenizer with its built-in regex is GPT-2's.
  for (const auto* p : parts) {
    if (p->value("type", "") == "ByteLevel" && p->value("use_regex", true)) return "gpt-2";
  }
  tok.fail("pre_tokenizer", "cannot tell which BPE pre-tokenizer this is");
}

// tokenizer_config.json names special tokens as strings or {"content": ...} objects.
std::optional<std::string> special_token_text(const JsonFile& cfg, const std::string& key) {
  if (!cfg.has(key)) return std::nullopt;
  const auto& v = cfg.json().at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

std::optional<uint32_t> find_token(const TokenizerMeta& meta, const std::string& text);

// gguf-py's SpecialVocab for a WordPiece tokenizer: [CLS] / [SEP] / [MASK] ids, CLS standing in for BOS
// and SEP for EOS.
template <typename SetId>
void bert_special_tokens(TokenizerMeta& meta, const SetId& set_id) {
  set_id("cls_token", meta.cls_id);
  set_id("sep_token", meta.sep_id);
  set_id("mask_token", meta.mask_id);
  if (!meta.bos_id) meta.bos_id = meta.cls_id;
  if (!meta.eos_id) meta.eos_id = meta.sep_id;
}

// SpecialVocab's reading of a TemplateProcessing post-processor (BERT: "[CLS] $A [SEP]"; T5: "$A </s>"):
// a leading special token that is BOS/CLS sets add_bos, a trailing one that is EOS sets add_eos.
void template_flags(const fs::path& tokenizer_json, TokenizerMeta& meta) {
  if (!fs::exists(tokenizer_json)) return;
  const JsonFile tok = JsonFile::read(tokenizer_json.string());
  const auto pp = tok.json().find("post_processor");
  if (pp == tok.json().end() || !pp->is_object() || pp->value("type", "") != "TemplateProcessing") return;
  auto special = [&](const nlohmann::ordered_json& item) -> std::optional<uint32_t> {
    if (!item.is_object() || !item.contains("SpecialToken") || !item["SpecialToken"].is_object()) return std::nullopt;
    const auto id = item["SpecialToken"].find("id");
    return id != item["SpecialToken"].end() && id->is_string() ? find_token(meta, id->get<std::string>()) : std::nullopt;
  };
  const auto single = pp->find("single");
  if (single == pp->end() || !single->is_array() || single->size() < 2) return;
  const auto first = special(single->front()), last = special(single->back());
  if (first) meta.add_bos = first == meta.bos_id || first == meta.cls_id;
  if (last) meta.add_eos = last == meta.eos_id;
  if (const auto pair = pp->find("pair"); pair != pp->end() && pair->is_array() && pair->size() >= 4 && last) {
    meta.add_sep = false;  // SpecialVocab: a separator counts only without a trailing special token
  }
}

bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.starts_with("<0x") && t.ends_with(">") && std::isxdigit(static_cast<unsigned char>(t[3])) &&
         std::isxdigit(static_cast<unsigned char>(t[4]));
}

TokenizerMeta read_tokenizer_json_values(const std::string& path, const std::optional<TokenizerMeta>& spm,
                                         std::optional<uint64_t> vocab_size);

TokenizerMeta read_tokenizer_json(const std::string& path, const std::optional<TokenizerMeta>& spm,
                                  std::optional<uint64_t> vocab_size) {
  return with_json_errors(path, "tokenizer.json", [&] { return read_tokenizer_json_values(path, spm, vocab_size); });
}

TokenizerMeta read_tokenizer_json_values(const std::string& path, const std::optional<TokenizerMeta>& spm,
                                         std::optional<uint64_t> vocab_size) {
  const JsonFile tok = JsonFile::read(path);
  const auto& model = tok.json().contains("model") ? tok.json()["model"] : nlohmann::ordered_json();
  const std::string model_type = model.is_object() ? model.value("type", "") : "";
  if (model_type != "BPE" && model_type != "WordPiece") tok.fail("model", "only BPE and WordPiece tokenizer.json models are supported");
  if (!model.contains("vocab") || !model["vocab"].is_object()) tok.fail("vocab", "missing or not an object");
  TokenizerMeta meta;
  meta.source_files.push_back(path);
  const bool wordpiece = model_type == "WordPiece";  // BERT
  const bool spm_style = !wordpiece && model.value("byte_fallback", false);
  meta.model = wordpiece ? "bert" : spm_style ? "llama" : "gpt2";
  meta.pre = wordpiece || spm_style ? "default" : detect_bpe_pre(tok);

  std::map<uint64_t, std::string> by_id;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_unsigned()) tok.fail(text, "token id is not a non-negative integer");
    if (!by_id.emplace(id.get<uint64_t>(), text).second) tok.fail(text, "token id " + id.dump() + " used twice");
  }
  std::unordered_map<uint64_t, bool> added_special;  // id -> special
  if (const auto it = tok.json().find("added_tokens"); it != tok.json().end() && it->is_array()) {
    for (const auto& a : *it) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() || !a.contains("content") || !a["content"].is_string()) {
        tok.fail("added_tokens", "entry without integer id and string content");
      }
      const uint64_t id = a["id"].get<uint64_t>();
      by_id[id] = a["content"].get<std::string>();
      added_special[id] = a.value("special", false);
    }
  }
  const uint64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  // Ids index the vocabulary: one id far past it (16,777,215 in a 50-token file) would otherwise
  // write millions of [PAD] entries. config.json's vocab_size may pad beyond the entries; no further.
  const uint64_t limit = std::max<uint64_t>(by_id.size(), vocab_size.value_or(0));
  if (n > limit || n > (uint64_t{1} << 24)) {
    const auto& [id, text] = *by_id.rbegin();
    tok.fail(text, "token id " + std::to_string(id) + " is beyond the vocabulary (" + std::to_string(by_id.size()) +
                       " tokens" + (vocab_size ? ", config.json vocab_size " + std::to_string(*vocab_size) : "") + ")");
  }
  // Merge ranks give SentencePiece-style scores when there is no tokenizer.model: the earlier a merge,
  // the higher its result scores, so llama.cpp's score-driven merging follows the BPE merge order.
  std::unordered_map<std::string, size_t> merge_rank;
  if (const auto it = model.find("merges"); it != model.end() && it->is_array()) {
    for (const auto& m : *it) {
      std::string merge;
      if (m.is_string()) {
        merge = m.get<std::string>();
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merge = m[0].get<std::string>() + " " + m[1].get<std::string>();  // transformers >= 4.45 pairs
      } else {
        tok.fail("merges", "entry is neither \"a b\" nor [a, b]");
      }
      if (spm_style) {
        const auto space = merge.find(' ', 1);
        if (space != std::string::npos) merge_rank.emplace(merge.substr(0, space) + merge.substr(space + 1), meta.merges.size());
      }
      meta.merges.push_back(std::move(merge));
    }
  }
  for (uint64_t id = 0; id < n; ++id) {
    const auto it = by_id.find(id);
    if (it == by_id.end()) {
      meta.tokens.push_back("[PAD" + std::to_string(id) + "]");
      meta.types.push_back(TokenType::Unused);
      if (spm_style) meta.scores.push_back(-10000.0f);
      continue;
    }
    const std::string& text = it->second;
    TokenType type = TokenType::Normal;
    if (const auto a = added_special.find(id); a != added_special.end()) {
      type = a->second ? TokenType::Control : TokenType::UserDefined;
    } else if (spm_style && is_byte_token(text)) {
      type = TokenType::Byte;
    }
    if (spm_style && model.contains("unk_token") && model["unk_token"].is_string() && model["unk_token"] == text) {
      type = TokenType::Unknown;
    }
    if (wordpiece && type != TokenType::Control) {
      // llama.cpp's WPM vocabulary marks word starts instead of continuations (BertModel.set_vocab's
      // "phantom space"): "##ing" -> "ing", "play" -> "\u2581play".
      meta.tokens.push_back(text.starts_with("##") ? text.substr(2) : "\u2581" + text);
      meta.types.push_back(type);
      continue;
    }
    meta.tokens.push_back(text);
    meta.types.push_back(type);
    if (spm_style) {
      const auto r = merge_rank.find(text);
      meta.scores.push_back(r == merge_rank.end() ? 0.0f : -static_cast<float>(r->second + 1));
    }
  }
  if (spm_style) meta.merges.clear();  // SentencePiece models carry scores, not merges
  if (spm_style && spm && spm->tokens.size() <= meta.tokens.size()) {
    // tokenizer.model is the authority on SentencePiece scores and types. A byte-level BPE
    // tokenizer.json has no scores, so a stale tokenizer.model beside it is ignored.
    for (size_t i = 0; i < spm->tokens.size(); ++i) {
      meta.scores[i] = spm->scores[i];
      if (meta.types[i] == TokenType::Normal) meta.types[i] = spm->types[i];
    }
  }
  return meta;
}

std::optional<uint32_t> find_token(const TokenizerMeta& meta, const std::string& text) {
  for (size_t i = 0; i < meta.tokens.size(); ++i) {
    if (meta.tokens[i] == text) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

}  // namespace

namespace {

// Padding, special ids and flags from tokenizer_config.json / config.json, whatever file gave the vocabulary.
TokenizerMeta finish_hf_tokenizer(TokenizerMeta vocabulary, const fs::path& d, const std::string& config_json_path,
                                  std::optional<uint64_t> vocab_size);

}  // namespace

std::optional<TokenizerMeta> read_hf_sentencepiece_tokenizer(const std::string& dir, const std::string& config_json_path,
                                                             std::optional<uint64_t> vocab_size, const std::string& model_name) {
  const fs::path d(dir);
  const fs::path file = fs::exists(d / "tokenizer.model") ? d / "tokenizer.model" : d / "spiece.model";
  if (!fs::exists(file)) return std::nullopt;
  TokenizerMeta spm = read_sentencepiece_model(file.string());
  if (spm.sentencepiece_type != 0 && spm.sentencepiece_type != 1) {
    throw Error(ErrorCode::Unsupported, file.string(), Error::kNoOffset, "trainer_spec.model_type",
                "is " + std::to_string(spm.sentencepiece_type) + "; only Unigram (1) SentencePiece models convert as " + model_name);
  }
  spm.model = model_name;
  spm.remove_extra_whitespaces = spm.remove_extra_whitespaces.value_or(true);  // the proto's default
  return finish_hf_tokenizer(std::move(spm), d, config_json_path, vocab_size);
}

std::optional<TokenizerMeta> read_hf_tokenizer(const std::string& dir, const std::string& config_json_path,
                                               std::optional<uint64_t> vocab_size) {
  const fs::path d(dir);
  std::optional<TokenizerMeta> spm;
  if (fs::exists(d / "tokenizer.model")) spm = read_sentencepiece_model((d / "tokenizer.model").string());
  if (fs::exists(d / "tokenizer.json")) return finish_hf_tokenizer(read_tokenizer_json((d / "tokenizer.json").string(), spm, vocab_size), d, config_json_path, vocab_size);
  if (spm) return finish_hf_tokenizer(std::move(*spm), d, config_json_path, vocab_size);
  return std::nullopt;
}

namespace {

TokenizerMeta finish_hf_tokenizer(TokenizerMeta vocabulary, const fs::path& d, const std::string& config_json_path,
                                  std::optional<uint64_t> vocab_size) {
  std::optional<TokenizerMeta> meta(std::move(vocabulary));
  // Pad to the model's vocab_size, as convert_hf_to_gguf.py does ([PAD{i}], unused).
  if (vocab_size && *vocab_size > meta->tokens.size() && *vocab_size < (uint64_t{1} << 24)) {
    for (uint64_t i = meta->tokens.size(); i < *vocab_size; ++i) {
      meta->tokens.push_back("[PAD" + std::to_string(i) + "]");
      meta->types.push_back(TokenType::Unused);
      if (!meta->scores.empty()) meta->scores.push_back(-10000.0f);
    }
  }
  if (fs::exists(d / "tokenizer_config.json")) with_json_errors((d / "tokenizer_config.json").string(), "tokenizer_config.json", [&] {
    const JsonFile cfg = JsonFile::read((d / "tokenizer_config.json").string());
    meta->source_files.push_back(cfg.path());
    auto set_id = [&](const char* key, std::optional<uint32_t>& id) {
      if (const auto text = special_token_text(cfg, key)) {
        if (const auto found = find_token(*meta, *text)) id = *found;
      }
    };
    set_id("bos_token", meta->bos_id);
    set_id("eos_token", meta->eos_id);
    set_id("unk_token", meta->unk_id);
    set_id("pad_token", meta->pad_id);
    if (meta->model == "bert") bert_special_tokens(*meta, set_id);
    if (meta->model == "bert" || meta->model == "t5") template_flags(d / "tokenizer.json", *meta);
    if (cfg.has("add_bos_token")) meta->add_bos = cfg.boolean("add_bos_token", false);
    if (cfg.has("add_eos_token")) meta->add_eos = cfg.boolean("add_eos_token", false);
    if (cfg.has("add_prefix_space") && meta->model == "llama") meta->add_space_prefix = cfg.boolean("add_prefix_space", true);
    if (const auto ct = cfg.json().find("chat_template"); ct != cfg.json().end() && ct->is_string()) {
      meta->chat_template = ct->get<std::string>();
    }
  });
  // config.json, then generation_config.json, name the special ids when the tokenizer files do not.
  for (const std::string& path : {config_json_path, (d / "generation_config.json").string()}) {
    if (!fs::exists(path)) continue;
    const JsonFile config = JsonFile::read(path);
    auto fallback = [&](const char* key, std::optional<uint32_t>& id) {
      const auto it = config.json().find(key);
      if (!id && it != config.json().end() && it->is_number_unsigned() && it->get<uint64_t>() < meta->tokens.size()) {
        id = static_cast<uint32_t>(it->get<uint64_t>());
      }
    };
    fallback("bos_token_id", meta->bos_id);
    fallback("eos_token_id", meta->eos_id);
    fallback("pad_token_id", meta->pad_id);
  }
  return std::move(*meta);
}

}  // namespace

void TokenizerMeta::append_kvs(std::vector<GgufKv>& kvs) const {
  auto add = [&](std::string key, GgufValue v) { kvs.push_back({std::move(key), std::move(v), 0}); };
  add("tokenizer.ggml.model", {model});
  add("tokenizer.ggml.pre", {pre});
  add("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  if (!scores.empty()) add("tokenizer.ggml.scores", GgufValue::numeric_array<float>(GgufType::F32, scores));
  std::vector<int32_t> type_ids(types.size());
  for (size_t i = 0; i < types.size(); ++i) type_ids[i] = static_cast<int32_t>(types[i]);
  add("tokenizer.ggml.token_type", GgufValue::numeric_array<int32_t>(GgufType::I32, type_ids));
  if (!merges.empty()) add("tokenizer.ggml.merges", GgufValue::string_array(merges));
  if (bos_id) add("tokenizer.ggml.bos_token_id", {*bos_id});
  if (eos_id) add("tokenizer.ggml.eos_token_id", {*eos_id});
  if (unk_id) add("tokenizer.ggml.unknown_token_id", {*unk_id});
  if (sep_id) add("tokenizer.ggml.seperator_token_id", {*sep_id});  // llama.cpp's spelling
  if (pad_id) add("tokenizer.ggml.padding_token_id", {*pad_id});
  if (cls_id) add("tokenizer.ggml.cls_token_id", {*cls_id});
  if (mask_id) add("tokenizer.ggml.mask_token_id", {*mask_id});
  if (add_bos) add("tokenizer.ggml.add_bos_token", {*add_bos});
  if (add_eos) add("tokenizer.ggml.add_eos_token", {*add_eos});
  if (add_sep) add("tokenizer.ggml.add_sep_token", {*add_sep});
  if (add_space_prefix) add("tokenizer.ggml.add_space_prefix", {*add_space_prefix});
  if (model == "t5") {  // the Unigram normalizer llama.cpp's UGM tokenizer applies
    if (remove_extra_whitespaces) add("tokenizer.ggml.remove_extra_whitespaces", {*remove_extra_whitespaces});
    if (!precompiled_charsmap.empty()) {
      GgufArray a;
      a.element_type = GgufType::U8;
      a.count = precompiled_charsmap.size();
      a.raw.resize(precompiled_charsmap.size());
      std::memcpy(a.raw.data(), precompiled_charsmap.data(), precompiled_charsmap.size());
      add("tokenizer.ggml.precompiled_charsmap", GgufValue{GgufArrayBox(std::move(a))});
    }
  }
  if (!chat_template.empty()) add("tokenizer.chat_template", {chat_template});
}

std::optional<TokenizerMeta> tokenizer_from_gguf(const GgufFile& gguf) {
  const auto* model = gguf.find_kv("tokenizer.ggml.model");
  const auto* tokens = gguf.find_kv("tokenizer.ggml.tokens");
  if (!model || !model->value.as_string() || !tokens || !tokens->value.is_array() ||
      tokens->value.array().element_type != GgufType::String) {
    return std::nullopt;
  }
  TokenizerMeta meta;
  meta.model = *model->value.as_string();
  if (const auto* pre = gguf.find_kv("tokenizer.ggml.pre"); pre && pre->value.as_string()) meta.pre = *pre->value.as_string();
  meta.tokens = tokens->value.array().string_list();
  if (const auto* s = gguf.find_kv("tokenizer.ggml.scores"); s && s->value.is_array() && s->value.array().element_type == GgufType::F32) {
    for (uint64_t i = 0; i < s->value.array().count; ++i) meta.scores.push_back(s->value.array().at<float>(i));
  }
  if (const auto* t = gguf.find_kv("tokenizer.ggml.token_type"); t && t->value.is_array() && t->value.array().element_type == GgufType::I32) {
    for (uint64_t i = 0; i < t->value.array().count; ++i) meta.types.push_back(static_cast<TokenType>(t->value.array().at<int32_t>(i)));
  }
  if (const auto* m = gguf.find_kv("tokenizer.ggml.merges"); m && m->value.is_array() && m->value.array().element_type == GgufType::String) {
    meta.merges = m->value.array().string_list();
  }
  auto id = [&](const char* key, std::optional<uint32_t>& out) {
    if (const auto* kv = gguf.find_kv(key)) {
      if (const auto v = kv->value.as_u64(); v && *v < meta.tokens.size()) out = static_cast<uint32_t>(*v);
    }
  };
  id("tokenizer.ggml.bos_token_id", meta.bos_id);
  id("tokenizer.ggml.eos_token_id", meta.eos_id);
  id("tokenizer.ggml.unknown_token_id", meta.unk_id);
  id("tokenizer.ggml.padding_token_id", meta.pad_id);
  id("tokenizer.ggml.seperator_token_id", meta.sep_id);
  id("tokenizer.ggml.cls_token_id", meta.cls_id);
  id("tokenizer.ggml.mask_token_id", meta.mask_id);
  auto flag = [&](const char* key, std::optional<bool>& out) {
    if (const auto* kv = gguf.find_kv(key)) {
      if (const auto* b = std::get_if<bool>(&kv->value.data)) out = *b;
    }
  };
  flag("tokenizer.ggml.add_bos_token", meta.add_bos);
  flag("tokenizer.ggml.add_eos_token", meta.add_eos);
  flag("tokenizer.ggml.add_sep_token", meta.add_sep);
  flag("tokenizer.ggml.add_space_prefix", meta.add_space_prefix);
  if (const auto* ct = gguf.find_kv("tokenizer.chat_template"); ct && ct->value.as_string()) meta.chat_template = *ct->value.as_string();
  return meta;
}

}  // namespace ckpt
