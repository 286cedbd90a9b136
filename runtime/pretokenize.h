// BPE pre-tokenization: the regexes of GPT-2 and Llama-3 / Qwen2, matched by hand over code points
// (std::regex has no \p{L}). Each function returns the [begin, end) code point ranges of the words.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace ckpt::runtime {

enum class PreTokenizer {
  Gpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Llama3,  // (?i:'s|..)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  Qwen2,   // as Llama3 with \p{N} one digit at a time
};

// Maps tokenizer.ggml.pre names onto the splitters above; nullopt-like false when unknown.
bool pre_tokenizer_from_name(std::string_view name, PreTokenizer& out);

std::vector<std::pair<size_t, size_t>> pre_tokenize(PreTokenizer kind, const std::vector<uint32_t>& cps);

}  // namespace ckpt::runtime
