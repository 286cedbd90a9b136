#include "runtime/porter_stemmer.h"

#include <functional>
#include <map>
#include <vector>

namespace ckpt::runtime {
namespace {

bool consonant(const std::string& w, size_t i) {
  const char c = w[i];
  if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') return false;
  if (c == 'y') return i == 0 ? true : !consonant(w, i - 1);
  return true;
}

// m in [C](VC)^m[V]: the number of vowel-consonant transitions.
int measure(const std::string& s) {
  int m = 0;
  bool prev_vowel = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool c = consonant(s, i);
    if (c && prev_vowel) ++m;
    prev_vowel = !c;
  }
  return m;
}

bool contains_vowel(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!consonant(s, i)) return true;
  }
  return false;
}

bool ends_double_consonant(const std::string& w) {
  return w.size() >= 2 && w[w.size() - 1] == w[w.size() - 2] && consonant(w, w.size() - 1);
}

bool ends_cvc(const std::string& w) {
  const size_t n = w.size();
  if (n >= 3 && consonant(w, n - 3) && !consonant(w, n - 2) && consonant(w, n - 1) && w[n - 1] != 'w' && w[n - 1] != 'x' && w[n - 1] != 'y') return true;
  return n == 2 && !consonant(w, 0) && consonant(w, 1);  // NLTK_EXTENSIONS
}

bool ends_with(const std::string& w, const std::string& s) { return w.size() >= s.size() && w.compare(w.size() - s.size(), s.size(), s) == 0; }
std::string cut(const std::string& w, const std::string& s) { return w.substr(0, w.size() - s.size()); }

struct Rule {
  std::string suffix, replacement;
  std::function<bool(const std::string&)> condition;  // empty: always
};

// NLTK's _apply_rule_list: the first rule whose suffix matches decides ("*d": a double consonant).
std::string apply_rules(const std::string& w, const std::vector<Rule>& rules) {
  for (const auto& r : rules) {
    if (r.suffix == "*d") {
      if (!ends_double_consonant(w)) continue;
      const std::string stem = w.substr(0, w.size() - 2);
      return !r.condition || r.condition(stem) ? stem + r.replacement : w;
    }
    if (ends_with(w, r.suffix)) {
      const std::string stem = cut(w, r.suffix);
      return !r.condition || r.condition(stem) ? stem + r.replacement : w;
    }
  }
  return w;
}

bool positive(const std::string& s) { return measure(s) > 0; }
bool above_one(const std::string& s) { return measure(s) > 1; }

std::string step1a(const std::string& w) {
  if (ends_with(w, "ies") && w.size() == 4) return cut(w, "ies") + "ie";
  return apply_rules(w, {{"sses", "ss", {}}, {"ies", "i", {}}, {"ss", "ss", {}}, {"s", "", {}}});
}

std::string step1b(const std::string& w) {
  if (ends_with(w, "ied")) return cut(w, "ied") + (w.size() == 4 ? "ie" : "i");
  if (ends_with(w, "eed")) {
    const std::string stem = cut(w, "eed");
    return measure(stem) > 0 ? stem + "ee" : w;
  }
  std::string stem;
  bool found = false;
  for (const char* suffix : {"ed", "ing"}) {
    if (ends_with(w, suffix)) {
      stem = cut(w, suffix);
      if (contains_vowel(stem)) {
        found = true;
        break;
      }
    }
  }
  if (!found) return w;
  const char last = stem.empty() ? '\0' : stem.back();
  return apply_rules(stem, {{"at", "ate", {}},
                            {"bl", "ble", {}},
                            {"iz", "ize", {}},
                            {"*d", std::string(1, last), [last](const std::string&) { return last != 'l' && last != 's' && last != 'z'; }},
                            {"", "e", [](const std::string& s) { return measure(s) == 1 && ends_cvc(s); }}});
}

std::string step1c(const std::string& w) {
  return apply_rules(w, {{"y", "i", [](const std::string& s) { return s.size() > 1 && consonant(s, s.size() - 1); }}});
}

std::string step2(const std::string& w) {
  if (ends_with(w, "alli") && positive(cut(w, "alli"))) return step2(cut(w, "alli") + "al");
  return apply_rules(w, {{"ational", "ate", positive}, {"tional", "tion", positive}, {"enci", "ence", positive},
                         {"anci", "ance", positive},   {"izer", "ize", positive},    {"bli", "ble", positive},
                         {"alli", "al", positive},     {"entli", "ent", positive},   {"eli", "e", positive},
                         {"ousli", "ous", positive},   {"ization", "ize", positive}, {"ation", "ate", positive},
                         {"ator", "ate", positive},    {"alism", "al", positive},    {"iveness", "ive", positive},
                         {"fulness", "ful", positive}, {"ousness", "ous", positive}, {"aliti", "al", positive},
                         {"iviti", "ive", positive},   {"biliti", "ble", positive},  {"fulli", "ful", positive},
                         // NLTK keeps the 'l' with the stem, so geo-logi works like archaeo-logi.
                         {"logi", "log", [w](const std::string&) { return positive(w.substr(0, w.size() - 3)); }}});
}

std::string step3(const std::string& w) {
  return apply_rules(w, {{"icate", "ic", positive}, {"ative", "", positive}, {"alize", "al", positive}, {"iciti", "ic", positive},
                         {"ical", "ic", positive},  {"ful", "", positive},   {"ness", "", positive}});
}

std::string step4(const std::string& w) {
  return apply_rules(w, {{"al", "", above_one},    {"ance", "", above_one}, {"ence", "", above_one}, {"er", "", above_one},
                         {"ic", "", above_one},    {"able", "", above_one}, {"ible", "", above_one}, {"ant", "", above_one},
                         {"ement", "", above_one}, {"ment", "", above_one}, {"ent", "", above_one},
                         {"ion", "", [](const std::string& s) { return measure(s) > 1 && !s.empty() && (s.back() == 's' || s.back() == 't'); }},
                         {"ou", "", above_one},    {"ism", "", above_one},  {"ate", "", above_one},  {"iti", "", above_one},
                         {"ous", "", above_one},   {"ive", "", above_one},  {"ize", "", above_one}});
}

std::string step5a(const std::string& w) {
  if (ends_with(w, "e")) {
    const std::string stem = cut(w, "e");
    if (measure(stem) > 1) return stem;
    if (measure(stem) == 1 && !ends_cvc(stem)) return stem;
  }
  return w;
}

std::string step5b(const std::string& w) {
  return apply_rules(w, {{"ll", "l", [w](const std::string&) { return measure(w.substr(0, w.size() - 1)) > 1; }}});
}

}  // namespace

std::string porter_stem(const std::string& word) {
  static const std::map<std::string, std::string> kIrregular = {
      {"sky", "sky"},     {"skies", "sky"},       {"dying", "die"},     {"lying", "lie"},     {"tying", "tie"},
      {"news", "news"},   {"innings", "inning"},  {"inning", "inning"}, {"outings", "outing"}, {"outing", "outing"},
      {"cannings", "canning"}, {"canning", "canning"}, {"howe", "howe"}, {"proceed", "proceed"}, {"exceed", "exceed"},
      {"succeed", "succeed"}};
  std::string w;
  for (char c : word) w += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (const auto it = kIrregular.find(w); it != kIrregular.end()) return it->second;
  if (w.size() <= 2) return w;
  return step5b(step5a(step4(step3(step2(step1c(step1b(step1a(w))))))));
}

}  // namespace ckpt::runtime
