// Code points and the three character classes BPE pre-tokenizers ask about.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::runtime {

// Decodes UTF-8; each invalid byte becomes its own code point 0xFFFD-tagged entry so nothing is lost:
// `byte_offsets[i]` is where code point i starts, so callers can slice the original bytes.
struct Codepoints {
  std::vector<uint32_t> cps;
  std::vector<size_t> byte_offsets;  // size() == cps.size() + 1
};
Codepoints decode_utf8(std::string_view text);
void append_utf8(std::string& out, uint32_t cp);
// Length of the UTF-8 sequence starting with `lead` (1 for invalid leads).
size_t utf8_sequence_length(uint8_t lead);

bool is_letter(uint32_t cp);      // \p{L}
bool is_number(uint32_t cp);      // \p{N}
bool is_whitespace(uint32_t cp);  // \s (Unicode White_Space)

}  // namespace ckpt::runtime
