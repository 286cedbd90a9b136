// Tokenizer files -> the tokenizer.ggml.* metadata llama.cpp reads.
//
// Sources, in the order convert_hf_to_gguf.py prefers them: tokenizer.model (SentencePiece protobuf,
// parsed here) for SentencePiece models; tokenizer.json (BPE with byte_fallback = SentencePiece-style
// "llama", ByteLevel = "gpt2") otherwise; plus tokenizer_config.json (special tokens, add_bos/eos,
// chat_template) and config.json's *_token_id as fallbacks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace ckpt {

// llama.cpp's token types (llama_token_type / SentencePiece Type).
enum class TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct TokenizerMeta {
  std::string model;  // "llama" (SentencePiece), "gpt2" (byte-level BPE) or "bert" (WordPiece)
  std::string pre;    // BPE pre-tokenizer name ("default" for SentencePiece)
  std::vector<std::string> tokens;
  std::vector<float> scores;  // SentencePiece only
  std::vector<TokenType> types;
  std::vector<std::string> merges;  // BPE only: "a b"
  std::optional<uint32_t> bos_id, eos_id, unk_id, pad_id;
  std::optional<uint32_t> sep_id, cls_id, mask_id;  // BERT's [SEP], [CLS], [MASK]
  std::optional<bool> add_bos, add_eos, add_sep, add_space_prefix;
  // SentencePiece normalizer (T5's Unigram models): remove_extra_whitespaces and the compiled
  // normalization table, as llama.cpp's UGM tokenizer reads them.
  std::optional<bool> remove_extra_whitespaces;
  std::string precompiled_charsmap;
  uint32_t sentencepiece_type = 0;  // trainer_spec.model_type: 1 Unigram, 2 BPE (0: not read)
  std::string chat_template;
  std::vector<std::string> source_files;

  void append_kvs(std::vector<GgufKv>& kvs) const;
};

// Reads the tokenizer files in `dir`; `config_json` supplies *_token_id fallbacks and vocab_size
// (the token list is padded with [PAD{i}] up to it). Throws Error naming the file at fault; returns
// nullopt when the directory has no tokenizer at all.
std::optional<TokenizerMeta> read_hf_tokenizer(const std::string& dir, const std::string& config_json_path,
                                               std::optional<uint64_t> vocab_size);
// The same with the vocabulary taken from the SentencePiece model alone (tokenizer.model, else
// spiece.model; tokenizer.json is not read for it), named `model_name` ("t5").
std::optional<TokenizerMeta> read_hf_sentencepiece_tokenizer(const std::string& dir, const std::string& config_json_path,
                                                             std::optional<uint64_t> vocab_size, const std::string& model_name);

// SentencePiece ModelProto (tokenizer.model), parsed without libprotobuf.
TokenizerMeta read_sentencepiece_model(const std::string& path);

// Writes HF tokenizer files for `meta` into `dir` (tokenizer.model for SentencePiece vocabularies,
// tokenizer.json for byte-level BPE, plus tokenizer_config.json); returns the files written.
std::vector<std::string> write_hf_tokenizer(const TokenizerMeta& meta, const std::string& dir);

// Builds TokenizerMeta back from GGUF metadata (for GGUF -> HF).
std::optional<TokenizerMeta> tokenizer_from_gguf(const GgufFile& gguf);

}  // namespace ckpt
