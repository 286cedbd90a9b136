// The generation loop: prompt -> tokens -> forward -> sample -> text, streamed as it is produced.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/forward.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer.h"

namespace ckpt::runtime {

struct GenerateOptions {
  int max_new_tokens = 64;
  SamplingParams sampling;
  std::vector<std::string> stop;  // generation ends before the first occurrence of any of these
  bool add_special = true;        // BOS as the vocabulary asks
  bool parse_special = true;      // "<|im_start|>" in the prompt is the control token
  bool echo_prompt = true;        // stream the prompt's text first
  bool stop_at_eos = true;
  // Positions of the prompt already in the forward's cache (a multi-turn chat): only the rest is evaluated.
  size_t reuse_prefix = 0;
};

struct GenerateResult {
  std::vector<int32_t> prompt_tokens, tokens;
  std::string text;          // generated text only (after stop-string truncation)
  std::string stop_reason;   // "eos", "stop string", "length", "context"
  double prompt_seconds = 0, first_token_seconds = 0, generate_seconds = 0;
};

// Tokens -> text, one token at a time (as Tokenizer::decode joins them), emitting only complete UTF-8
// characters.
class Detokenizer {
 public:
  explicit Detokenizer(const Tokenizer& tok) : joiner_(tok) {}
  std::string push(int32_t id) { return utf8_.push(joiner_.next(id)); }
  std::string flush() { return utf8_.flush(); }

 private:
  PieceJoiner joiner_;
  Utf8Streamer utf8_;
};

// Runs from an empty cache (or, with reuse_prefix, from the cache's first reuse_prefix positions). `on_text` receives text as it becomes final (stop strings held back
// until they can no longer match).
GenerateResult generate(Forward& forward, const Tokenizer& tok, std::string_view prompt, const GenerateOptions& options,
                        const std::function<void(std::string_view)>& on_text);

// The same from already tokenized input.
GenerateResult generate_tokens(Forward& forward, const Tokenizer& tok, std::vector<int32_t> prompt_tokens,
                               const GenerateOptions& options, const std::function<void(std::string_view)>& on_text);

}  // namespace ckpt::runtime
