// ROUGE against rouge-score's own test vectors (rouge/rouge_scorer_test.py) as listed in
// ../shared/specs/lora-train-eval.md §3.1 (its synthetic testdata lines embedded where a case needs them),
// plus the tokenizer's ASCII-only behaviour and the Unicode option.
#include <gtest/gtest.h>

#include "formats/error.h"
#include "runtime/porter_stemmer.h"
#include "runtime/rouge.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

void expect_score(const RougeScore& s, double p, double r, double f) {
  EXPECT_NEAR(s.precision, p, 1e-4);
  EXPECT_NEAR(s.recall, r, 1e-4);
  EXPECT_NEAR(s.fmeasure, f, 1e-4);
}

TEST(Rouge, ScorerTestVectors) {
  const auto r1 = parse_rouge_type("rouge1"), r2 = parse_rouge_type("rouge2"), rl = parse_rouge_type("rougeL"),
             lsum = parse_rouge_type("rougeLsum");
  expect_score(rouge_score(r1, "testing one two", "testing"), 1, 1.0 / 3, 0.5);
  expect_score(rouge_score(r2, "testing one two", "testing one"), 1, 0.5, 2.0 / 3);
  expect_score(rouge_score(rl, "testing one two", "testing one"), 1, 2.0 / 3, 0.8);
  expect_score(rouge_score(rl, "testing one two", "testing two"), 1, 2.0 / 3, 0.8);
  for (const auto& t : {r1, r2, rl, lsum}) expect_score(rouge_score(t, "testing one two", ""), 0, 0, 0);
  expect_score(rouge_score(lsum, "w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5"), 0.4, 0.8, 0.533333);
  expect_score(rouge_score(lsum, "w1 w2 w3 w4 w5", ""), 0, 0, 0);
  expect_score(rouge_score(lsum, "", "w1"), 0, 0, 0);
  expect_score(rouge_score(lsum, "w1 w2 w3 w4 w5", "/"), 0, 0, 0);
  for (const char* bad : {"rougen", "rouge0", "rouge10"}) test::expect_error(ErrorCode::InvalidArgument, [&] { parse_rouge_type(bad); });
}

// rouge/testdata/target.txt and prediction.txt (google-research, two synthetic lines each), scored line
// against line; the expected values are ROUGE-1.5.5's, from rouge_scorer_test.py (the unstemmed ones).
const char* kTargets[] = {
    "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN "
    "wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n",
    "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J "
    "XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu "
    "pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n"};
const char* kPredictions[] = {
    "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n",
    "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer "
    "tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n"};

TEST(Rouge, TestdataLinesAsRouge155) {
  const auto r1 = parse_rouge_type("rouge1"), r2 = parse_rouge_type("rouge2"), rl = parse_rouge_type("rougeL");
  expect_score(rouge_score(r1, kTargets[0], kPredictions[0]), 0.68750, 0.40741, 0.51163);
  expect_score(rouge_score(r1, kTargets[1], kPredictions[1]), 0.65385, 0.40476, 0.50000);
  expect_score(rouge_score(r2, kTargets[0], kPredictions[0]), 0.53333, 0.30769, 0.39024);
  expect_score(rouge_score(r2, kTargets[1], kPredictions[1]), 0.48000, 0.29268, 0.36364);
  expect_score(rouge_score(rl, kTargets[0], kPredictions[0]), 0.68750, 0.40741, 0.51163);
  expect_score(rouge_score(rl, kTargets[1], kPredictions[1]), 0.65385, 0.40476, 0.50000);
}

TEST(Rouge, StemmedTestdataLinesAsRouge155) {
  const auto r1 = parse_rouge_type("rouge1"), r2 = parse_rouge_type("rouge2");
  expect_score(rouge_score(r1, kTargets[0], kPredictions[0], RougeTokenizer::Ascii, true), 0.68750, 0.40741, 0.51163);
  expect_score(rouge_score(r1, kTargets[1], kPredictions[1], RougeTokenizer::Ascii, true), 0.69231, 0.42857, 0.52941);
  expect_score(rouge_score(r2, kTargets[0], kPredictions[0], RougeTokenizer::Ascii, true), 0.53333, 0.30769, 0.39024);
  expect_score(rouge_score(r2, kTargets[1], kPredictions[1], RougeTokenizer::Ascii, true), 0.48000, 0.29268, 0.36364);
}

// Porter's own examples (Porter 1980) and NLTK's documented departures.
// rouge/testdata/pyrouge_files/target_multi.0.txt and prediction_multi.0.txt (four synthetic sentences
// each): rougeLsum over the files' lines with stemming, ROUGE-1.5.5's values from rouge_scorer_test.py.
TEST(Rouge, RougeLsumMultiSentenceFileStemmed) {
  const std::string target =
      "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b "
      ".a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n"
      "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed "
      "nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n"
      "NhETebUbBk'er WOvoHMTjSRizKgH'vHiing Xu,hWxfs VkNE QhgKiLHE -HidivzoM.dO anhtion jbLQiSGDTCsuhREebUaKM dv J dVN tmbOT\n"
      "vMR HDm,xOAetion D,tion HJtodT.mHl UIv-p VjWH'BdyWjnfGU-OjT aEMdFICyLWfQMtion wEMfdOKing AwkeKbO 'DxqNOHBH qKtVvm OYJl mM\n";
  const std::string prediction =
      "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n"
      "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer "
      "tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n"
      "xfs VkJE QhgKiLHE -HidivzoM.dO anhing jbLQiSGDTCsuhREebUaKM dv J\n"
      "VjWH'BdyWjnfGU-OjTNaEMdFICyLWfQMing wEMfdOKijg AwkeKbO 'DxqNO\n";
  expect_score(rouge_score(parse_rouge_type("rougeLsum"), target, prediction, RougeTokenizer::Ascii, true), 0.66667, 0.36538, 0.47205);
}

TEST(Rouge, PorterStemmerInNltkMode) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"caresses", "caress"}, {"ponies", "poni"},       {"ties", "tie"},        {"caress", "caress"},   {"cats", "cat"},
      {"feed", "feed"},       {"agreed", "agre"},       {"plastered", "plaster"}, {"bled", "bled"},    {"motoring", "motor"},
      {"sing", "sing"},       {"conflated", "conflat"}, {"troubled", "troubl"}, {"sized", "size"},     {"hopping", "hop"},
      {"tanned", "tan"},      {"falling", "fall"},      {"hissing", "hiss"},    {"fizzed", "fizz"},    {"failing", "fail"},
      {"filing", "file"},     {"happy", "happi"},       {"sky", "sky"},         {"relational", "relat"}, {"conditional", "condit"},
      {"rational", "ration"}, {"valenci", "valenc"},    {"digitizer", "digit"}, {"generalization", "gener"},
      {"dying", "die"},       {"skies", "sky"},         {"running", "run"},     {"generously", "gener"}, {"happiness", "happi"},
  };
  for (const auto& [word, stem] : cases) EXPECT_EQ(porter_stem(word), stem) << word;
}

TEST(Rouge, SummaryLevelLcsUnion) {
  std::vector<std::vector<int>> unions;
  const RougeScore s = summary_level_lcs({{1, 2, 3, 4, 5}}, {{1, 2, 6, 7, 8}, {1, 3, 8, 9, 5}}, &unions);
  expect_score(s, 0.4, 0.8, 0.533333);
  ASSERT_EQ(unions.size(), 1u);
  EXPECT_EQ(unions[0], (std::vector<int>{1, 2, 3, 5}));
}

TEST(Rouge, TokenizerIsAsciiUnlessAskedAndMultiReferenceTakesTheBest) {
  EXPECT_EQ(rouge_tokenize("Hello, World! It's 2024-ish.", RougeTokenizer::Ascii),
            (std::vector<std::string>{"hello", "world", "it", "s", "2024", "ish"}));
  // rouge-score's default scores Korean as nothing at all; the Unicode option keeps its words.
  EXPECT_TRUE(rouge_tokenize("서울은 한국의 수도", RougeTokenizer::Ascii).empty());
  EXPECT_EQ(rouge_tokenize("서울은 한국의 수도", RougeTokenizer::Unicode), (std::vector<std::string>{"서울은", "한국의", "수도"}));
  const auto r1 = parse_rouge_type("rouge1");
  expect_score(rouge_score(r1, "서울은 한국의 수도", "서울은 수도"), 0, 0, 0);
  expect_score(rouge_score(r1, "서울은 한국의 수도", "서울은 수도", RougeTokenizer::Unicode), 1, 2.0 / 3, 0.8);
  // Python's str.lower() makes the Kelvin sign a "k".
  EXPECT_EQ(rouge_tokenize("\u212Aelvin", RougeTokenizer::Ascii), (std::vector<std::string>{"kelvin"}));
  expect_score(rouge_score_multi(r1, {"a b c d", "testing one two", "testing one"}, "testing"), 1, 0.5, 2.0 / 3);
}

}  // namespace
}  // namespace ckpt::runtime
