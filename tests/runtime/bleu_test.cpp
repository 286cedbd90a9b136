// BLEU against sacrebleu's own test vectors (test/test_bleu.py, test/test_sentence_bleu.py), as listed in
// ../shared/specs/lora-train-eval.md §3.2, and the 13a tokenizer's rules by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/bleu.h"

namespace ckpt::runtime {
namespace {

const std::vector<std::string> kHyps = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
const std::vector<std::vector<std::string>> kRefs = {{"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
                                                     {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};

TEST(Bleu, Tokenizer13aSplitsPunctuationAsMteval) {
  EXPECT_EQ(tokenize_13a("The dog bit the man."), "The dog bit the man .");
  EXPECT_EQ(tokenize_13a("It wasn't surprising."), "It wasn't surprising .");
  EXPECT_EQ(tokenize_13a("3.14, 1,000 and 5-6 or a-b (x) \"q\" &amp; &lt;t&gt;"), "3.14 , 1,000 and 5 - 6 or a-b ( x ) \" q \" & < t >");
  EXPECT_EQ(tokenize_13a("end-\nline\nnext<skipped>"), "endline next");
}

TEST(Bleu, CorpusVectors) {
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs).score, 48.530827, 1e-6);
  BleuOptions none;
  none.tokenizer = BleuTokenizer::None;
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, none).score, 49.1919566, 1e-6);
  BleuOptions no_smooth;
  no_smooth.smooth = BleuSmooth::None;
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, no_smooth).score, 48.530827, 1e-6);
  EXPECT_EQ(corpus_bleu({"", "", ""}, kRefs).score, 0.0);
  const double by_order[] = {77.65, 60.50, 53.93, 48.53, 46.14, 43.28};
  for (int n = 1; n <= 6; ++n) {
    BleuOptions o;
    o.max_ngram_order = n;
    EXPECT_NEAR(corpus_bleu(kHyps, kRefs, o).score, by_order[n - 1], 0.005) << n;
  }
}

TEST(Bleu, RawCorpusAndEffectiveOrderVectors) {
  BleuOptions raw;  // raw_corpus_bleu: no tokenization, floor 0.01, effective order
  raw.tokenizer = BleuTokenizer::None;
  raw.smooth = BleuSmooth::Floor;
  raw.smooth_value = 0.01;
  raw.effective_order = true;
  EXPECT_NEAR(corpus_bleu({"this is a test"}, {{"this is a test"}}, raw).score / 100, 1.0, 1e-12);
  EXPECT_NEAR(corpus_bleu({"this is a fest"}, {{"this is a test"}}, raw).score / 100, 0.223606797749979, 1e-12);
  EXPECT_NEAR(corpus_bleu({"this is a fest", "ref1"}, {{"ref1", "ref2"}}, raw).score, 0.0, 1e-12);
  // test_effective_order: raw_corpus_bleu(hyps, refs, .01), i.e. the same options.
  EXPECT_NEAR(corpus_bleu({"test"}, {{"a test"}}, raw).score / 100, 0.3678794411714425, 1e-12);
  EXPECT_NEAR(corpus_bleu({"a test"}, {{"a test"}}, raw).score / 100, 1.0, 1e-12);
  EXPECT_NEAR(corpus_bleu({"a little test"}, {{"a test"}}, raw).score / 100, 0.03218297948685433, 1e-12);
}

TEST(Bleu, StatisticsAndComputeVectors) {
  BleuOptions o;
  const BleuStats st = bleu_stats("am I am a character sequence", {"I am a symbol string sequence a a"}, o);
  EXPECT_EQ(st.correct, (std::vector<double>{4, 2, 1, 0}));
  EXPECT_EQ(st.total, (std::vector<double>{6, 5, 4, 3}));
  BleuOptions floor;
  floor.smooth = BleuSmooth::Floor;
  floor.smooth_value = 0.1;
  EXPECT_NEAR(compute_bleu(st, floor).score / 100, 0.1555722182, 1e-10);
  floor.smooth_value = 0;
  EXPECT_NEAR(compute_bleu(st, floor).score, 0.0, 1e-12);
  BleuStats given{{9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11};
  BleuOptions none;
  none.smooth = BleuSmooth::None;
  EXPECT_NEAR(compute_bleu(given, none).score / 100, 0.8375922397, 1e-10);
}

TEST(Bleu, SentenceVectors) {
  const std::string sys = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
  const std::vector<std::string> ref = {"producţia de zahăr brut se exprimă în zahăr alb;"};
  auto score = [&](BleuSmooth m, double v, BleuTokenizer t = BleuTokenizer::Mteval13a) {
    BleuOptions o;
    o.effective_order = true;
    o.smooth = m;
    o.smooth_value = v;
    o.tokenizer = t;
    return sentence_bleu(sys, ref, o).score;
  };
  EXPECT_NEAR(score(BleuSmooth::Exp, -1), 8.493, 1e-3);
  EXPECT_NEAR(score(BleuSmooth::None, -1), 0.0, 1e-3);
  EXPECT_NEAR(score(BleuSmooth::Floor, 0.1), 4.51688, 1e-3);
  EXPECT_NEAR(score(BleuSmooth::Floor, 0.5), 10.10, 1e-2);
  EXPECT_NEAR(score(BleuSmooth::AddK, 1), 14.882, 1e-3);
  EXPECT_NEAR(score(BleuSmooth::AddK, 2), 21.389, 1e-3);
  EXPECT_NEAR(score(BleuSmooth::Exp, -1, BleuTokenizer::None), 7.347, 1e-3);
  for (auto m : {BleuSmooth::Exp, BleuSmooth::Floor, BleuSmooth::AddK, BleuSmooth::None}) {
    BleuOptions o;
    o.effective_order = true;
    o.smooth = m;
    EXPECT_EQ(sentence_bleu("this is a cat", {"okay thanks"}, o).score, 0.0);
  }
  EXPECT_EQ(bleu_signature(BleuOptions{}, 2), "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0-ckpt");
}

}  // namespace
}  // namespace ckpt::runtime
