// Byte-level BPE as llama.cpp's llm_tokenizer_bpe runs it: pre-tokenize with the model's regex, map
// each word's bytes into GPT-2's printable alphabet, then merge the adjacent pair with the lowest
// merge rank (ties: leftmost) until none applies.
#include <queue>

#include "runtime/byte_unicode.h"
#include "runtime/tokenizer.h"
#include "runtime/symbol_list.h"
#include "runtime/unicode.h"

namespace ckpt::runtime {
namespace {

struct Bigram {
  int left, right;
  int32_t rank;
  std::string text;
};

struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  const Codepoints cps = decode_utf8(text);
  for (const auto& [begin, end] : pre_tokenize(pre_, cps.cps)) {
    const std::string word =
        bytes_to_unicode(text.substr(cps.byte_offsets[begin], cps.byte_offsets[end] - cps.byte_offsets[begin]));
    if (pre_ == PreTokenizer::Llama3) {  // llama.cpp's ignore_merges: whole words that are tokens win
      if (const int32_t id = find(word); id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    std::vector<Symbol> symbols = split_into_characters(word);
    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const std::string a = word.substr(symbols[left].offset, symbols[left].n);
      const std::string b = word.substr(symbols[right].offset, symbols[right].n);
      const auto it = merge_rank_.find(a + " " + b);
      if (it == merge_rank_.end()) return;
      queue.push({left, right, it->second, a + b});
    };
    for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      const Symbol& left = symbols[b.left];
      const Symbol& right = symbols[b.right];
      if (left.n == 0 || right.n == 0 || word.compare(left.offset, left.n + right.n, b.text) != 0 ||
          left.n + right.n != b.text.size()) {
        continue;  // stale
      }
      merge_right_into_left(symbols, b.left, b.right);
      try_add(symbols[b.left].prev, b.left);
      try_add(b.left, symbols[b.left].next);
    }
    for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
      const std::string piece = word.substr(symbols[i].offset, symbols[i].n);
      if (const int32_t id = find(piece); id >= 0) {
        out.push_back(id);
      } else {
        byte_fallback(unicode_to_bytes(piece), out);
      }
    }
  }
}

}  // namespace ckpt::runtime
