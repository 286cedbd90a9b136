// Text <-> token ids from a model's vocabulary (GGUF tokenizer.ggml.* or an HF tokenizer.json, both
// read into TokenizerMeta), behaving as llama.cpp's tokenizer does:
//   "llama": SentencePiece BPE by piece scores, "▁" for spaces, a space prefix, byte fallback <0xXX>;
//   "gpt2":  byte-level BPE by merge rank after the pre-tokenizer regex (gpt-2, llama-bpe, qwen2).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "formats/tokenizer_meta.h"
#include "runtime/pretokenize.h"

namespace ckpt::runtime {

class Tokenizer {
 public:
  // Throws Error(Unsupported / NotFound) naming `source` for vocabularies it cannot run.
  Tokenizer(const TokenizerMeta& meta, const std::string& source);

  // add_special: BOS (and EOS) as the vocabulary asks; parse_special: control / user-defined token
  // texts in `text` become their ids instead of being spelled out.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  // The bytes a token stands for; control tokens give "" unless `render_special`.
  std::string piece(int32_t id, bool render_special = false) const;
  // Pieces joined, with SentencePiece's leading space dropped after BOS / at the start.
  std::string decode(std::span<const int32_t> ids, bool render_special = false) const;

  size_t size() const { return meta_.tokens.size(); }
  int32_t bos() const { return meta_.bos_id ? static_cast<int32_t>(*meta_.bos_id) : -1; }
  int32_t eos() const { return meta_.eos_id ? static_cast<int32_t>(*meta_.eos_id) : -1; }
  bool strips_leading_space() const { return spm_ && add_space_prefix_; }
  // End of generation: EOS, or a control token named like one (<|eot_id|>, <|im_end|>, <|endoftext|>).
  bool is_end_of_generation(int32_t id) const;
  int32_t find(std::string_view token_text) const;  // -1 when absent

 private:
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;
  void byte_fallback(std::string_view bytes, std::vector<int32_t>& out) const;

  TokenizerMeta meta_;
  bool spm_ = true;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = true;
  PreTokenizer pre_ = PreTokenizer::Gpt2;
  std::unordered_map<std::string, int32_t> ids_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // "left right" -> rank (BPE)
  std::vector<int32_t> byte_tokens_;                     // byte value -> token id (-1 when missing)
  std::vector<int32_t> specials_;                        // control / user-defined, longest text first
  std::vector<bool> end_of_generation_;
};

// Joins token pieces into text as llama.cpp detokenizes: SentencePiece's leading space is dropped from
// the first piece of the text and from the first piece after each BOS.
class PieceJoiner {
 public:
  explicit PieceJoiner(const Tokenizer& tok, bool render_special = false)
      : tok_(tok), render_special_(render_special), strip_(tok.strips_leading_space()) {}
  std::string next(int32_t id);  // the bytes this token adds

 private:
  const Tokenizer& tok_;
  bool render_special_;
  bool strip_;
};

// Splits a byte stream into complete UTF-8 characters: push pieces, get back only what is safe to
// print (an incomplete trailing sequence waits for the next piece; flush() emits what remains).
class Utf8Streamer {
 public:
  std::string push(std::string_view bytes);
  std::string flush();

 private:
  std::string pending_;
};

}  // namespace ckpt::runtime
