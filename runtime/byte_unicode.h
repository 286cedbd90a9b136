// GPT-2's byte <-> printable code point table (bytes_to_unicode in openai/gpt-2 encoder.py): the
// printable Latin-1 bytes stand for themselves, the other 68 map to U+0100.. in byte order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ckpt::runtime {

uint32_t byte_to_unicode(uint8_t b);
std::string byte_to_unicode_utf8(uint8_t b);
// Token text -> raw bytes; code points outside the table pass through as UTF-8.
std::string unicode_to_bytes(std::string_view token_text);
// Raw bytes -> token alphabet.
std::string bytes_to_unicode(std::string_view bytes);

}  // namespace ckpt::runtime
