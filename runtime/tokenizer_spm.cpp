// SentencePiece BPE as llama.cpp's llm_tokenizer_spm runs it: start from UTF-8 characters, merge the
// adjacent pair whose concatenation is the highest-scoring vocabulary piece (ties: leftmost), and
// re-split pieces that are not tokens along the merges that built them, down to byte tokens.
#include <map>
#include <queue>

#include "runtime/tokenizer.h"
#include "runtime/symbol_list.h"

namespace ckpt::runtime {
namespace {

struct Bigram {
  int left, right;
  float score;
  size_t size;
};

struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void Tokenizer::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols = split_into_characters(text);
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  std::map<std::string, std::pair<int, int>> rev_merge;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string piece(text.substr(symbols[left].offset, symbols[left].n + symbols[right].n));
    const int32_t id = find(piece);
    if (id < 0) return;
    const float score = static_cast<size_t>(id) < meta_.scores.size() ? meta_.scores[id] : 0.0f;
    queue.push({left, right, score, piece.size()});
    rev_merge[piece] = {left, right};
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    const Symbol& left = symbols[b.left];
    const Symbol& right = symbols[b.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;  // stale
    merge_right_into_left(symbols, b.left, b.right);
    try_add(symbols[b.left].prev, b.left);
    try_add(b.left, symbols[b.left].next);
  }
  // Pieces that are not tokens are split along the merge that made them (llama.cpp reads the
  // symbols' current lengths here, as it does).
  auto resegment = [&](auto& self, const Symbol& s) -> void {
    const std::string piece(text.substr(s.offset, s.n));
    if (const int32_t id = find(piece); id >= 0) {
      out.push_back(id);
      return;
    }
    const auto it = rev_merge.find(piece);
    if (it == rev_merge.end()) {
      byte_fallback(piece, out);
      return;
    }
    self(self, symbols[it->second.first]);
    self(self, symbols[it->second.second]);
  };
  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) resegment(resegment, symbols[i]);
}

}  // namespace ckpt::runtime
