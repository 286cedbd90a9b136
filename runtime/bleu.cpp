#include "runtime/bleu.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "formats/error.h"

namespace ckpt::runtime {
namespace {

// sacrebleu's TokenizerRegexp, rule by rule; each 2-character rule scans left to right without
// overlapping matches, as re.sub does. Byte-wise is exact here: every class tests ASCII bytes, and a
// UTF-8 continuation byte is never '.', ',' or '-'.
bool punct_13a(unsigned char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}
bool digit(char c) { return c >= '0' && c <= '9'; }
bool dot_comma(char c) { return c == '.' || c == ','; }

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
  return s;
}

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string> tokens_of(std::string_view line, const BleuOptions& o) {
  std::string s(rstrip(line));
  if (o.lowercase) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return split_ws(o.tokenizer == BleuTokenizer::Mteval13a ? tokenize_13a(s) : s);
}

using Ngrams = std::map<std::vector<std::string>, int>;
Ngrams ngrams(const std::vector<std::string>& t, int n) {
  Ngrams out;
  for (size_t i = 0; i + static_cast<size_t>(n) <= t.size(); ++i) ++out[std::vector<std::string>(t.begin() + static_cast<ptrdiff_t>(i), t.begin() + static_cast<ptrdiff_t>(i) + n)];
  return out;
}

double my_log(double x) { return x == 0 ? -9999999999.0 : std::log(x); }

}  // namespace

std::string tokenize_13a(std::string_view line) {
  std::string s = replace_all(std::string(line), "<skipped>", "");
  s = replace_all(s, "-\n", "");
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.find('&') != std::string::npos) {
    s = replace_all(s, "&quot;", "\"");
    s = replace_all(s, "&amp;", "&");
    s = replace_all(s, "&lt;", "<");
    s = replace_all(s, "&gt;", ">");
  }
  s = " " + s + " ";
  std::string a;
  for (char c : s) {
    if (punct_13a(static_cast<unsigned char>(c))) {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  auto pairs = [](const std::string& in, auto matches, auto emit) {
    std::string out;
    size_t i = 0;
    while (i < in.size()) {
      if (i + 1 < in.size() && matches(in[i], in[i + 1])) {
        emit(out, in[i], in[i + 1]);
        i += 2;
      } else {
        out += in[i++];
      }
    }
    return out;
  };
  // ([^0-9])([\.,]) -> \1 \2_ ; ([\.,])([^0-9]) -> _\1 \2 ; ([0-9])(-) -> \1 \2_
  std::string b = pairs(a, [](char x, char y) { return !digit(x) && dot_comma(y); },
                        [](std::string& o, char x, char y) { o += x; o += ' '; o += y; o += ' '; });
  std::string c = pairs(b, [](char x, char y) { return dot_comma(x) && !digit(y); },
                        [](std::string& o, char x, char y) { o += ' '; o += x; o += ' '; o += y; });
  std::string d = pairs(c, [](char x, char y) { return digit(x) && y == '-'; },
                        [](std::string& o, char x, char y) { o += x; o += ' '; o += y; o += ' '; });
  std::string out;
  for (const auto& t : split_ws(d)) out += (out.empty() ? "" : " ") + t;
  return out;
}

BleuStats bleu_stats(std::string_view hypothesis, const std::vector<std::string>& references, const BleuOptions& o) {
  const int N = o.max_ngram_order;
  BleuStats st;
  st.correct.assign(static_cast<size_t>(N), 0);
  st.total.assign(static_cast<size_t>(N), 0);
  const auto hyp = tokens_of(hypothesis, o);
  st.sys_len = static_cast<double>(hyp.size());
  // Closest reference length, ties to the shorter (sacrebleu _get_closest_ref_len).
  int best_diff = -1;
  for (const auto& r : references) {
    const int len = static_cast<int>(tokens_of(r, o).size());
    const int diff = std::abs(len - static_cast<int>(hyp.size()));
    if (best_diff < 0 || diff < best_diff || (diff == best_diff && len < st.ref_len)) {
      best_diff = diff;
      st.ref_len = len;
    }
  }
  for (int n = 1; n <= N; ++n) {
    Ngrams max_ref;
    for (const auto& r : references) {
      for (const auto& [g, count] : ngrams(tokens_of(r, o), n)) max_ref[g] = std::max(max_ref[g], count);
    }
    const auto h = ngrams(hyp, n);
    for (const auto& [g, count] : h) {
      const auto it = max_ref.find(g);
      if (it != max_ref.end()) st.correct[static_cast<size_t>(n - 1)] += std::min(count, it->second);
    }
    st.total[static_cast<size_t>(n - 1)] = std::max(0.0, static_cast<double>(hyp.size()) - n + 1);
  }
  return st;
}

BleuScore compute_bleu(BleuStats st, const BleuOptions& o) {
  const int N = o.max_ngram_order;
  BleuScore s;
  s.sys_len = st.sys_len;
  s.ref_len = st.ref_len;
  s.precisions.assign(static_cast<size_t>(N), 0.0);
  double smooth_value = o.smooth_value;
  if (smooth_value < 0) smooth_value = o.smooth == BleuSmooth::Floor ? 0.1 : o.smooth == BleuSmooth::AddK ? 1.0 : 0.0;
  if (std::all_of(st.correct.begin(), st.correct.end(), [](double c) { return c == 0; })) {
    s.bp = 0;
    return s;  // no matches at all: 0 (sacrebleu #141)
  }
  s.bp = st.sys_len < st.ref_len ? (st.sys_len > 0 ? std::exp(1 - st.ref_len / st.sys_len) : 0.0) : 1.0;
  double smooth_mteval = 1;
  int eff_order = N;
  for (int n = 1; n <= N; ++n) {
    const size_t i = static_cast<size_t>(n - 1);
    if (o.smooth == BleuSmooth::AddK && n > 1) {
      st.correct[i] += smooth_value;
      st.total[i] += smooth_value;
    }
    if (st.total[i] == 0) break;
    if (o.effective_order) eff_order = n;
    if (st.correct[i] == 0) {
      if (o.smooth == BleuSmooth::Exp) {
        smooth_mteval *= 2;
        s.precisions[i] = 100.0 / (smooth_mteval * st.total[i]);
      } else if (o.smooth == BleuSmooth::Floor) {
        s.precisions[i] = 100.0 * smooth_value / st.total[i];
      }
    } else {
      s.precisions[i] = 100.0 * st.correct[i] / st.total[i];
    }
  }
  double log_sum = 0;
  for (int i = 0; i < eff_order; ++i) log_sum += my_log(s.precisions[static_cast<size_t>(i)]);
  s.score = s.bp * std::exp(log_sum / eff_order);
  return s;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs, const BleuOptions& o) {
  if (o.max_ngram_order < 1) throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "max_ngram_order", "must be >= 1");
  for (const auto& stream : refs) {
    if (stream.size() != hyps.size()) {
      throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "references",
                  fmt::format("a reference stream has {} segments for {} hypotheses", stream.size(), hyps.size()));
    }
  }
  BleuStats sum;
  sum.correct.assign(static_cast<size_t>(o.max_ngram_order), 0);
  sum.total.assign(static_cast<size_t>(o.max_ngram_order), 0);
  for (size_t i = 0; i < hyps.size(); ++i) {
    std::vector<std::string> seg_refs;
    for (const auto& stream : refs) seg_refs.push_back(stream[i]);
    const BleuStats st = bleu_stats(hyps[i], seg_refs, o);
    for (size_t n = 0; n < sum.correct.size(); ++n) {
      sum.correct[n] += st.correct[n];
      sum.total[n] += st.total[n];
    }
    sum.sys_len += st.sys_len;
    sum.ref_len += st.ref_len;
  }
  return compute_bleu(sum, o);
}

BleuScore sentence_bleu(std::string_view hyp, const std::vector<std::string>& refs, const BleuOptions& o) {
  return compute_bleu(bleu_stats(hyp, refs, o), o);
}

std::string bleu_signature(const BleuOptions& o, size_t n_refs) {
  const char* smooth = o.smooth == BleuSmooth::Exp ? "exp" : o.smooth == BleuSmooth::Floor ? "floor" : o.smooth == BleuSmooth::AddK ? "add-k" : "none";
  return fmt::format("nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:2.6.0-ckpt", n_refs, o.lowercase ? "lc" : "mixed",
                     o.effective_order ? "yes" : "no", o.tokenizer == BleuTokenizer::Mteval13a ? "13a" : "none", smooth);
}

}  // namespace ckpt::runtime
