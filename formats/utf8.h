// Strict UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
#pragma once

#include <cstddef>
#include <string_view>

namespace ckpt {

// Length of the valid UTF-8 sequence at the start of `text`, or 0 if it is not valid.
size_t utf8_sequence_length(std::string_view text);

// Index of the first byte that is not part of valid UTF-8, or npos if all of `text` is valid.
size_t find_invalid_utf8(std::string_view text);

}  // namespace ckpt
