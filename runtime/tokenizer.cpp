// Shared tokenizer pieces: construction, special-token partitioning, pieces and decoding.
#include "runtime/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "formats/error.h"
#include "runtime/byte_unicode.h"
#include "runtime/unicode.h"

namespace ckpt::runtime {
namespace {

TokenType type_of(const TokenizerMeta& meta, size_t id) {
  return id < meta.types.size() ? meta.types[id] : TokenType::Normal;
}

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

}  // namespace

Tokenizer::Tokenizer(const TokenizerMeta& meta, const std::string& source) : meta_(meta) {
  if (meta_.tokens.empty()) {
    throw Error(ErrorCode::NotFound, source, Error::kNoOffset, "tokenizer.ggml.tokens", "the model carries no vocabulary");
  }
  if (meta_.model == "llama") {
    spm_ = true;
    add_bos_ = meta_.add_bos.value_or(true);
    add_space_prefix_ = meta_.add_space_prefix.value_or(true);
  } else if (meta_.model == "gpt2") {
    spm_ = false;
    add_bos_ = meta_.add_bos.value_or(false);
    add_space_prefix_ = false;
    if (!pre_tokenizer_from_name(meta_.pre, pre_)) {
      throw Error(ErrorCode::Unsupported, source, Error::kNoOffset, "tokenizer.ggml.pre",
                  "pre-tokenizer '" + meta_.pre + "' is not implemented (gpt-2, llama-bpe and qwen2 are)");
    }
    for (size_t i = 0; i < meta_.merges.size(); ++i) merge_rank_.emplace(meta_.merges[i], static_cast<int32_t>(i));
  } else {
    throw Error(ErrorCode::Unsupported, source, Error::kNoOffset, "tokenizer.ggml.model",
                "tokenizer model '" + meta_.model + "' is not implemented (llama and gpt2 are)");
  }
  add_eos_ = meta_.add_eos.value_or(false);
  if (add_bos_ && !meta_.bos_id) add_bos_ = false;
  ids_.reserve(meta_.tokens.size());
  for (size_t i = 0; i < meta_.tokens.size(); ++i) ids_.emplace(meta_.tokens[i], static_cast<int32_t>(i));

  byte_tokens_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    if (spm_) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_tokens_[b] = find(name);
      if (byte_tokens_[b] < 0) byte_tokens_[b] = find(std::string(1, static_cast<char>(b)));
    } else {
      byte_tokens_[b] = find(byte_to_unicode_utf8(static_cast<uint8_t>(b)));
    }
  }
  end_of_generation_.assign(meta_.tokens.size(), false);
  static const std::vector<std::string_view> kEndNames = {"<|eot_id|>", "<|im_end|>", "<|endoftext|>", "<|end|>",
                                                          "<end_of_turn>", "<|end_of_text|>", "</s>"};
  for (size_t i = 0; i < meta_.tokens.size(); ++i) {
    const TokenType t = type_of(meta_, i);
    if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
      if (!meta_.tokens[i].empty()) specials_.push_back(static_cast<int32_t>(i));
    }
    if (t == TokenType::Control && std::find(kEndNames.begin(), kEndNames.end(), meta_.tokens[i]) != kEndNames.end()) {
      end_of_generation_[i] = true;
    }
  }
  if (meta_.eos_id) end_of_generation_[*meta_.eos_id] = true;
  std::stable_sort(specials_.begin(), specials_.end(),
                   [&](int32_t a, int32_t b) { return meta_.tokens[a].size() > meta_.tokens[b].size(); });
}

int32_t Tokenizer::find(std::string_view token_text) const {
  const auto it = ids_.find(std::string(token_text));
  return it == ids_.end() ? -1 : it->second;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < end_of_generation_.size() && end_of_generation_[id];
}

void Tokenizer::byte_fallback(std::string_view bytes, std::vector<int32_t>& out) const {
  for (char c : bytes) {
    const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      out.push_back(id);
    } else if (meta_.unk_id) {
      out.push_back(static_cast<int32_t>(*meta_.unk_id));
    }
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_) out.push_back(bos());
  // Split out special tokens (user-defined ones always, control / unknown ones only when asked),
  // as llama.cpp's tokenizer_st_partition does; SentencePiece adds its space prefix to the first
  // text fragment and to every fragment that follows a special token.
  bool prev_special = true;
  size_t start = 0, i = 0;
  auto flush_text = [&](size_t end) {
    if (end <= start) return;
    std::string_view fragment = text.substr(start, end - start);
    if (spm_) {
      std::string escaped;
      if (add_space_prefix_ && prev_special) escaped = kSpmSpace;
      for (char c : fragment) {
        if (c == ' ') {
          escaped += kSpmSpace;
        } else {
          escaped += c;
        }
      }
      encode_spm(escaped, out);
    } else {
      encode_bpe(fragment, out);
    }
    prev_special = false;
  };
  while (i < text.size()) {
    int32_t matched = -1;
    for (int32_t id : specials_) {
      const TokenType t = type_of(meta_, id);
      if (!parse_special && t != TokenType::UserDefined) continue;
      if (text.substr(i).starts_with(meta_.tokens[id])) {
        matched = id;
        break;
      }
    }
    if (matched < 0) {
      ++i;
      continue;
    }
    flush_text(i);
    out.push_back(matched);
    prev_special = true;
    i += meta_.tokens[matched].size();
    start = i;
  }
  flush_text(text.size());
  if (add_special && add_eos_ && meta_.eos_id) out.push_back(eos());
  return out;
}

std::string Tokenizer::piece(int32_t id, bool render_special) const {
  if (id < 0 || static_cast<size_t>(id) >= meta_.tokens.size()) return {};
  const std::string& text = meta_.tokens[id];
  switch (type_of(meta_, id)) {
    case TokenType::Control:
      return render_special ? text : std::string();
    case TokenType::Unknown:
      return "\xE2\x96\x85";  // llama.cpp shows unknown tokens as U+2585
    case TokenType::UserDefined:
      return text;
    case TokenType::Byte:
      if (spm_ && text.size() == 6 && text.starts_with("<0x")) {
        return std::string(1, static_cast<char>(std::stoi(text.substr(3, 2), nullptr, 16)));
      }
      break;
    default:
      break;
  }
  if (spm_) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
        out += ' ';
        i += kSpmSpace.size();
      } else {
        out += text[i++];
      }
    }
    return out;
  }
  return unicode_to_bytes(text);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  PieceJoiner joiner(*this, render_special);
  std::string out;
  for (int32_t id : ids) out += joiner.next(id);
  return out;
}

std::string PieceJoiner::next(int32_t id) {
  if (id == tok_.bos() && !render_special_) {
    strip_ = tok_.strips_leading_space();
    return {};
  }
  std::string p = tok_.piece(id, render_special_);
  if (strip_ && !p.empty()) {
    if (p[0] == ' ') p.erase(0, 1);
    strip_ = false;
  }
  return p;
}

namespace {
// Broken sequences (a lead byte without its continuation bytes, stray continuation bytes) become
// U+FFFD so what reaches the terminal is always valid UTF-8.
std::string sanitize_utf8(std::string_view bytes) {
  const Codepoints cps = decode_utf8(bytes);
  std::string out;
  out.reserve(bytes.size());
  for (uint32_t cp : cps.cps) append_utf8(out, cp);
  return out;
}
}  // namespace

std::string Utf8Streamer::push(std::string_view bytes) {
  pending_ += bytes;
  // Emit everything up to the last lead byte whose sequence is not complete yet.
  size_t cut = pending_.size();
  for (size_t back = 1; back <= std::min<size_t>(4, pending_.size()); ++back) {
    const auto c = static_cast<uint8_t>(pending_[pending_.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for its lead
    if (c >= 0xC0 && utf8_sequence_length(c) > back) cut = pending_.size() - back;
    break;
  }
  std::string ready = sanitize_utf8(std::string_view(pending_).substr(0, cut));
  pending_.erase(0, cut);
  return ready;
}

std::string Utf8Streamer::flush() {
  std::string rest = sanitize_utf8(pending_);
  pending_.clear();
  return rest;
}

}  // namespace ckpt::runtime
