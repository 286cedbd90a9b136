// BLEU with sacrebleu 2.x semantics (mjpost/sacrebleu, metrics/bleu.py): the 13a tokenizer (or none),
// clipped n-gram matches against the best of several references, the closest reference length (ties
// to the shorter), brevity penalty, smoothing exp / floor / add-k / none, effective order, corpus and
// sentence scores on sacrebleu's 0-100 scale.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::runtime {

enum class BleuTokenizer { Mteval13a, None };
enum class BleuSmooth { Exp, Floor, AddK, None };

struct BleuOptions {
  BleuTokenizer tokenizer = BleuTokenizer::Mteval13a;
  BleuSmooth smooth = BleuSmooth::Exp;
  double smooth_value = -1;  // < 0: sacrebleu's default for the method (floor 0.1, add-k 1)
  int max_ngram_order = 4;
  bool effective_order = false;
  bool lowercase = false;
};

struct BleuStats {
  std::vector<double> correct, total;  // per n-gram order
  double sys_len = 0, ref_len = 0;
};

struct BleuScore {
  double score = 0;              // 0..100
  std::vector<double> precisions;
  double bp = 1;
  double sys_len = 0, ref_len = 0;
};

// sacrebleu's tokenizer_13a (mteval-v13a): punctuation split off, "." and "," unless beside digits.
std::string tokenize_13a(std::string_view line);

// Statistics of one hypothesis against its references.
BleuStats bleu_stats(std::string_view hypothesis, const std::vector<std::string>& references, const BleuOptions& options);
// sacrebleu's compute_bleu on summed statistics.
BleuScore compute_bleu(BleuStats stats, const BleuOptions& options);

// refs[stream][segment], as sacrebleu takes them; every stream as long as the hypotheses.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& refs,
                      const BleuOptions& options = {});
BleuScore sentence_bleu(std::string_view hypothesis, const std::vector<std::string>& references, const BleuOptions& options);

// "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0-ckpt"
std::string bleu_signature(const BleuOptions& options, size_t n_refs);

}  // namespace ckpt::runtime
