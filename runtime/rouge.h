// ROUGE with Google rouge-score semantics (google-research rouge/rouge_scorer.py): rouge1..rouge9 on
// clipped n-gram counts, rougeL on the LCS of the whole token sequence, rougeLsum on the summary-level
// union LCS of newline-separated sentences (hits capped by token counts, _backtrack_norec's tie rule),
// the best-F reference among several (first on ties). Tokenizer: rouge-score's (lowercase, every run of
// characters outside [a-z0-9] a separator: non-Latin text scores 0), or, behind an explicit option,
// a Unicode one (runs of letters and digits of any script) for Korean and other scripts.
// `stem`: rouge-score's use_stemmer, NLTK-mode Porter (porter_stemmer.h) on tokens longer than three
// characters (ASCII tokens only under the Unicode tokenizer).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ckpt::runtime {

enum class RougeTokenizer { Ascii, Unicode };

struct RougeScore {
  double precision = 0, recall = 0, fmeasure = 0;
};

// "rouge1".."rouge9", "rougeL", "rougeLsum"; anything else (rougen, rouge0, rouge10) is an Error.
struct RougeType {
  int n = 0;           // 1..9 for rougeN, 0 for the LCS types
  bool summary = false;  // rougeLsum
  std::string name;
};
RougeType parse_rouge_type(const std::string& name);

std::vector<std::string> rouge_tokenize(std::string_view text, RougeTokenizer tokenizer, bool stem = false);

RougeScore rouge_score(const RougeType& type, std::string_view target, std::string_view prediction,
                       RougeTokenizer tokenizer = RougeTokenizer::Ascii, bool stem = false);
// Several references: the one with the highest F (the first on ties), as score_multi.
RougeScore rouge_score_multi(const RougeType& type, const std::vector<std::string>& targets, std::string_view prediction,
                             RougeTokenizer tokenizer = RougeTokenizer::Ascii, bool stem = false);

// rouge-score's _summary_level_lcs on token ids (reference sentences, candidate sentences); the union
// LCS of each reference sentence is returned through `unions` when given.
RougeScore summary_level_lcs(const std::vector<std::vector<int>>& ref, const std::vector<std::vector<int>>& can,
                             std::vector<std::vector<int>>* unions = nullptr);

}  // namespace ckpt::runtime
