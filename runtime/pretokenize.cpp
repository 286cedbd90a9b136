#include "runtime/pretokenize.h"

#include "runtime/unicode.h"

namespace ckpt::runtime {
namespace {

struct Scanner {
  const std::vector<uint32_t>& c;
  size_t n() const { return c.size(); }
  uint32_t at(size_t i) const { return i < c.size() ? c[i] : 0xFFFFFFFF; }
  bool letter(size_t i) const { return i < n() && is_letter(c[i]); }
  bool number(size_t i) const { return i < n() && is_number(c[i]); }
  bool space(size_t i) const { return i < n() && is_whitespace(c[i]); }
  bool newline(size_t i) const { return i < n() && (c[i] == '\r' || c[i] == '\n'); }
  bool other(size_t i) const { return i < n() && !is_whitespace(c[i]) && !is_letter(c[i]) && !is_number(c[i]); }

  // 's 't 're 've 'm 'll 'd; returns the match length or 0.
  size_t contraction(size_t i, bool ignore_case) const {
    if (at(i) != '\'') return 0;
    auto lower = [&](size_t k) {
      const uint32_t v = at(k);
      return ignore_case && v >= 'A' && v <= 'Z' ? v + 32 : v;
    };
    const uint32_t a = lower(i + 1), b = lower(i + 2);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }
  // \s+(?!\S) then \s+: a whitespace run, leaving its last character to the next word when a
  // non-space follows and the run is longer than one.
  size_t whitespace(size_t i) const {
    size_t j = i;
    while (space(j)) ++j;
    if (j == i) return 0;
    if (j < n() && j - i > 1) return j - i - 1;
    return j - i;
  }
};

}  // namespace

bool pre_tokenizer_from_name(std::string_view name, PreTokenizer& out) {
  if (name == "gpt-2" || name == "gpt2" || name == "default" || name.empty()) {
    out = PreTokenizer::Gpt2;
  } else if (name == "llama-bpe" || name == "llama3" || name == "smaug-bpe") {
    out = PreTokenizer::Llama3;
  } else if (name == "qwen2") {
    out = PreTokenizer::Qwen2;
  } else {
    return false;
  }
  return true;
}

std::vector<std::pair<size_t, size_t>> pre_tokenize(PreTokenizer kind, const std::vector<uint32_t>& cps) {
  Scanner s{cps};
  std::vector<std::pair<size_t, size_t>> words;
  size_t i = 0;
  auto run = [&](size_t j, auto pred) {
    while (pred(j)) ++j;
    return j;
  };
  auto letters = [&](size_t j) { return s.letter(j); };
  auto numbers = [&](size_t j) { return s.number(j); };
  auto others = [&](size_t j) { return s.other(j); };
  auto newlines = [&](size_t j) { return s.newline(j); };
  while (i < s.n()) {
    size_t end = i;
    if (kind == PreTokenizer::Gpt2) {
      const size_t start = s.at(i) == ' ' ? i + 1 : i;  // the optional leading space
      if (size_t len = s.contraction(i, false)) {
        end = i + len;
      } else if (s.letter(start)) {
        end = run(start, letters);
      } else if (s.number(start)) {
        end = run(start, numbers);
      } else if (s.other(start)) {
        end = run(start, others);
      } else {
        end = i + s.whitespace(i);
      }
    } else {
      if (size_t len = s.contraction(i, true)) {
        end = i + len;
      } else if (s.letter(i)) {
        end = run(i, letters);
      } else if (!s.newline(i) && !s.letter(i) && !s.number(i) && s.letter(i + 1)) {
        end = run(i + 1, letters);
      } else if (s.number(i)) {
        const size_t max_digits = kind == PreTokenizer::Llama3 ? 3 : 1;
        end = i;
        while (end - i < max_digits && s.number(end)) ++end;
      } else if (s.other(i) || (s.at(i) == ' ' && s.other(i + 1))) {
        end = run(run(s.at(i) == ' ' ? i + 1 : i, others), newlines);
      } else {
        // \s*[\r\n]+ : through the last line break of the whitespace run, if it has one.
        size_t j = i, last_newline = 0;
        bool has_newline = false;
        while (s.space(j)) {
          if (s.newline(j)) {
            has_newline = true;
            last_newline = j;
          }
          ++j;
        }
        end = has_newline ? last_newline + 1 : i + s.whitespace(i);
      }
    }
    if (end == i) end = i + 1;  // cannot happen with these patterns; never loop forever
    words.emplace_back(i, end);
    i = end;
  }
  return words;
}

}  // namespace ckpt::runtime
