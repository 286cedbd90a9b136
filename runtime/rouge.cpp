#include "runtime/rouge.h"

#include <algorithm>
#include <map>
#include <set>

#include "formats/error.h"
#include "runtime/porter_stemmer.h"
#include "runtime/unicode.h"

namespace ckpt::runtime {
namespace {

double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0; }

std::vector<std::vector<int>> lcs_table(const std::vector<int>& ref, const std::vector<int>& can) {
  std::vector<std::vector<int>> t(ref.size() + 1, std::vector<int>(can.size() + 1, 0));
  for (size_t i = 1; i <= ref.size(); ++i) {
    for (size_t j = 1; j <= can.size(); ++j) t[i][j] = ref[i - 1] == can[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
  }
  return t;
}

// _backtrack_norec: the reference indices of one LCS, with rouge-score's tie rule.
std::vector<int> lcs_indices(const std::vector<int>& ref, const std::vector<int>& can) {
  const auto t = lcs_table(ref, can);
  std::vector<int> out;
  size_t i = ref.size(), j = can.size();
  while (i > 0 && j > 0) {
    if (ref[i - 1] == can[j - 1]) {
      out.insert(out.begin(), static_cast<int>(i - 1));
      --i;
      --j;
    } else if (t[i][j - 1] > t[i - 1][j]) {
      --j;
    } else {
      --i;
    }
  }
  return out;
}

// Tokens as small integers (equal strings, equal ids), so every LCS works on ints.
struct Vocab {
  std::map<std::string, int> ids;
  std::vector<int> of(const std::vector<std::string>& tokens) {
    std::vector<int> out;
    for (const auto& t : tokens) out.push_back(ids.emplace(t, static_cast<int>(ids.size())).first->second);
    return out;
  }
};

std::vector<std::string> sentences(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    if (end > pos) out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace

RougeType parse_rouge_type(const std::string& name) {
  RougeType t;
  t.name = name;
  if (name == "rougeL") return t;
  if (name == "rougeLsum") {
    t.summary = true;
    return t;
  }
  if (name.size() == 6 && name.starts_with("rouge") && name[5] >= '1' && name[5] <= '9') {
    t.n = name[5] - '0';
    return t;
  }
  throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "rouge type", "'" + name + "' is not rouge1..rouge9, rougeL or rougeLsum");
}

std::vector<std::string> rouge_tokenize(std::string_view text, RougeTokenizer tokenizer, bool stem) {
  std::vector<std::string> out;
  const Codepoints cps = decode_utf8(text);
  std::string current;
  auto flush = [&] {
    if (!current.empty()) out.push_back(std::move(current));
    current.clear();
  };
  for (uint32_t cp : cps.cps) {
    // Python's str.lower() turns two non-ASCII letters into ASCII ones rouge-score then keeps.
    if (cp == 0x212A) cp = 'k';                   // KELVIN SIGN
    if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
    const bool ascii_word = (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9');
    if (cp == 0x130) {  // LATIN CAPITAL I WITH DOT ABOVE -> "i" + combining dot (a separator)
      current += 'i';
      flush();
      continue;
    }
    if (ascii_word) {
      current += static_cast<char>(cp);
    } else if (tokenizer == RougeTokenizer::Unicode && (is_letter(cp) || is_number(cp))) {
      append_utf8(current, cp);
    } else {
      flush();
    }
  }
  flush();
  if (stem) {
    for (auto& t : out) {
      const bool ascii = std::all_of(t.begin(), t.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
      if (ascii && t.size() > 3) t = porter_stem(t);
    }
  }
  return out;
}

RougeScore summary_level_lcs(const std::vector<std::vector<int>>& ref, const std::vector<std::vector<int>>& can,
                             std::vector<std::vector<int>>* unions) {
  size_t m = 0, n = 0;
  for (const auto& s : ref) m += s.size();
  for (const auto& s : can) n += s.size();
  if (ref.empty() || can.empty() || m == 0 || n == 0) return {};
  std::map<int, int> count_r, count_c;
  for (const auto& s : ref) {
    for (int t : s) ++count_r[t];
  }
  for (const auto& s : can) {
    for (int t : s) ++count_c[t];
  }
  size_t hits = 0;
  for (const auto& r : ref) {
    std::set<int> union_idx;  // _find_union: sorted union of the LCS indices against every candidate sentence
    for (const auto& c : can) {
      for (int i : lcs_indices(r, c)) union_idx.insert(i);
    }
    std::vector<int> lcs;
    for (int i : union_idx) lcs.push_back(r[static_cast<size_t>(i)]);
    if (unions) unions->push_back(lcs);
    for (int t : lcs) {
      if (count_c[t] > 0 && count_r[t] > 0) {  // "prevent double counting", as ROUGE-1.5.5
        ++hits;
        --count_c[t];
        --count_r[t];
      }
    }
  }
  const double recall = static_cast<double>(hits) / static_cast<double>(m), precision = static_cast<double>(hits) / static_cast<double>(n);
  return {precision, recall, fmeasure(precision, recall)};
}

RougeScore rouge_score(const RougeType& type, std::string_view target, std::string_view prediction, RougeTokenizer tokenizer, bool stem) {
  Vocab v;
  if (type.summary) {
    std::vector<std::vector<int>> ref, can;
    for (const auto& s : sentences(target)) ref.push_back(v.of(rouge_tokenize(s, tokenizer, stem)));
    for (const auto& s : sentences(prediction)) can.push_back(v.of(rouge_tokenize(s, tokenizer, stem)));
    return summary_level_lcs(ref, can);
  }
  const auto t = v.of(rouge_tokenize(target, tokenizer, stem)), p = v.of(rouge_tokenize(prediction, tokenizer, stem));
  if (type.n == 0) {  // rougeL
    if (t.empty() || p.empty()) return {};
    const double lcs = lcs_table(t, p).back().back();
    const double precision = lcs / static_cast<double>(p.size()), recall = lcs / static_cast<double>(t.size());
    return {precision, recall, fmeasure(precision, recall)};
  }
  auto grams = [&](const std::vector<int>& tokens) {
    std::map<std::vector<int>, int> out;
    const size_t n = static_cast<size_t>(type.n);
    for (size_t i = 0; i + n <= tokens.size(); ++i) ++out[std::vector<int>(tokens.begin() + static_cast<ptrdiff_t>(i), tokens.begin() + static_cast<ptrdiff_t>(i + n))];
    return out;
  };
  const auto tg = grams(t), pg = grams(p);
  int overlap = 0, t_total = 0, p_total = 0;
  for (const auto& [g, c] : tg) {
    t_total += c;
    const auto it = pg.find(g);
    if (it != pg.end()) overlap += std::min(c, it->second);
  }
  for (const auto& [g, c] : pg) p_total += c;
  const double precision = overlap / static_cast<double>(std::max(p_total, 1)), recall = overlap / static_cast<double>(std::max(t_total, 1));
  return {precision, recall, fmeasure(precision, recall)};
}

RougeScore rouge_score_multi(const RougeType& type, const std::vector<std::string>& targets, std::string_view prediction,
                             RougeTokenizer tokenizer, bool stem) {
  RougeScore best;
  bool first = true;
  for (const auto& t : targets) {
    const RougeScore s = rouge_score(type, t, prediction, tokenizer, stem);
    if (first || s.fmeasure > best.fmeasure) best = s;  // np.argmax: the first maximum
    first = false;
  }
  return best;
}

}  // namespace ckpt::runtime
