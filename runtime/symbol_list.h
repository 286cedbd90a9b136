// The linked list of text pieces both BPE tokenizers merge (SentencePiece by score, byte-level by
// rank): pieces start as UTF-8 characters; merging a pair grows the left piece over the right one.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

#include "runtime/unicode.h"

namespace ckpt::runtime {

struct Symbol {
  int prev, next;
  size_t offset, n;  // bytes [offset, offset + n) of the text; n == 0 once merged away
};

inline std::vector<Symbol> split_into_characters(std::string_view text) {
  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < text.size();) {
    const size_t len = std::min(utf8_sequence_length(static_cast<uint8_t>(text[offset])), text.size() - offset);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, offset + len == text.size() ? -1 : index + 1, offset, len});
    offset += len;
  }
  return symbols;
}

// Joins symbols[right] into symbols[left] (its right neighbour).
inline void merge_right_into_left(std::vector<Symbol>& symbols, int left, int right) {
  Symbol& l = symbols[left];
  Symbol& r = symbols[right];
  l.n += r.n;
  r.n = 0;
  l.next = r.next;
  if (r.next >= 0) symbols[r.next].prev = left;
}

}  // namespace ckpt::runtime
