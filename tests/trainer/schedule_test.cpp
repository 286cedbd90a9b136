// The torch-free parts of the trainer: transformers' learning-rate schedules (values computed by hand
// from optimization.py's lambdas), the rendering and masking of training records, packing, the
// epoch order, and the loss plot.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/runtime.h"
#include "runtime/trainer/loss_plot.h"
#include "runtime/trainer/lr_schedule.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

TEST(LrSchedule, MatchesTransformersLambdas) {
  // get_linear_schedule_with_warmup(warmup 2, total 10): step/2 during warm-up, then (10-s)/8.
  const double lin[] = {0, 0.5, 1, 7.0 / 8, 6.0 / 8, 5.0 / 8, 4.0 / 8, 3.0 / 8, 2.0 / 8, 1.0 / 8};
  for (uint64_t s = 0; s < 10; ++s) EXPECT_DOUBLE_EQ(learning_rate_at(LrSchedule::Linear, 1.0, s, 2, 10), lin[s]) << s;
  // Cosine (num_cycles 0.5), warm-up 0, total 4: 0.5 (1 + cos(pi s / 4)).
  for (uint64_t s = 0; s < 4; ++s) EXPECT_NEAR(learning_rate_at(LrSchedule::Cosine, 2.0, s, 0, 4), 2.0 * 0.5 * (1 + std::cos(M_PI * s / 4.0)), 1e-15);
  EXPECT_NEAR(learning_rate_at(LrSchedule::Cosine, 1.0, 2, 0, 4), 0.5, 1e-15);
  EXPECT_DOUBLE_EQ(learning_rate_at(LrSchedule::Constant, 3e-4, 0, 5, 10), 3e-4);  // constant ignores warm-up
  EXPECT_DOUBLE_EQ(learning_rate_at(LrSchedule::ConstantWithWarmup, 1.0, 1, 4, 10), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate_at(LrSchedule::ConstantWithWarmup, 1.0, 7, 4, 10), 1.0);
  EXPECT_THROW(parse_lr_schedule("polynomial_decay_v2"), Error);
}

TEST(TrainingExamples, PromptIsMaskedAndEosEndsTheTarget) {
  const Model model = load_model(std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama");
  const Tokenizer tok(model.vocab, model.path);
  TrainingRecord r;
  r.kind = RecordKind::Raft;
  r.prompt = "Question: Where?\nAnswer: ";
  r.completion = "in the park";
  const RenderedRecord rr = render_record(r, model, "x.jsonl");
  const TokenizedExample e = tokenize_record(tok, rr, 0);
  const auto prompt = tok.encode(r.prompt, true, true), target = tok.encode(r.completion, false, false);
  ASSERT_EQ(e.n_prompt, prompt.size());
  ASSERT_EQ(e.ids.size(), prompt.size() + target.size() + 1);
  EXPECT_EQ(e.ids.back(), tok.eos());
  EXPECT_EQ(tok.decode({e.ids.data() + e.n_prompt, target.size()}), "in the park");
  const auto seq = build_sequences({e}, {0}, 0, false, false);
  ASSERT_EQ(seq.size(), 1u);
  // Position i predicts ids[i + 1]: masked while that is still the prompt.
  for (size_t i = 0; i + 1 < e.ids.size(); ++i) EXPECT_EQ(seq[0].labels[i], i + 1 >= e.n_prompt ? e.ids[i + 1] : -100) << i;
  EXPECT_EQ(seq[0].labels.back(), -100);
  EXPECT_EQ(seq[0].n_targets(), target.size() + 1);
  const auto all = build_sequences({e}, {0}, 0, false, /*train_on_prompt=*/true);
  EXPECT_EQ(all[0].n_targets(), e.ids.size() - 1);
  // max_seq_length cuts the tail and says how long it was.
  const TokenizedExample cut = tokenize_record(tok, rr, 5);
  EXPECT_EQ(cut.ids.size(), 5u);
  EXPECT_EQ(cut.n_before_cut, e.ids.size());
}

// The sample's template: {% for m in messages %}<s>{role}: {content}</s>{% endfor %}, then "<s>assistant: ".
TEST(TrainingExamples, ChatRecordsGoThroughTheTemplateAndEndTheTurn) {
  const Model model = load_model(std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama");
  const Tokenizer tok(model.vocab, model.path);
  TrainingRecord r;
  r.kind = RecordKind::Chat;
  r.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}])");
  const RenderedRecord rr = render_record(r, model, "chat.jsonl");
  EXPECT_EQ(rr.prompt, "user: hi</s><s>assistant: ");  // the leading BOS text is the tokenizer's to add
  EXPECT_EQ(rr.target, "hello there</s>");
  EXPECT_EQ(rr.reference, "hello there");
  const TokenizedExample e = tokenize_record(tok, rr, 0);
  EXPECT_EQ(e.ids.back(), tok.eos());  // the template's end of turn, parsed as the control token
  EXPECT_NE(e.ids[e.ids.size() - 2], tok.eos());  // and no second EOS after it
  TrainingRecord bad = r;
  bad.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  test::expect_error(ErrorCode::InvalidArgument, [&] { render_record(bad, model, "chat.jsonl"); });
}

TEST(TrainingExamples, PackingFillsRowsAndEpochOrderIsSeeded) {
  std::vector<TokenizedExample> ex;
  for (int i = 0; i < 5; ++i) ex.push_back({static_cast<uint64_t>(i + 1), std::vector<int32_t>(static_cast<size_t>(4 + i), 7), 1, 0});
  const auto rows = build_sequences(ex, {0, 1, 2, 3, 4}, 12, true, false);  // 4+5 | 6 | 7 | 8
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].ids.size(), 9u);
  EXPECT_EQ(rows[0].segments, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(epoch_order(5, 1, 0, true), (std::vector<size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(epoch_order(50, 3, 1, false), epoch_order(50, 3, 1, false));
  EXPECT_NE(epoch_order(50, 3, 1, false), epoch_order(50, 3, 2, false));
}

TEST(LossPlot, DrawsBothCurvesAndEscapesTheTitle) {
  const std::string svg = loss_plot_svg({{1, 6.0}, {2, 3.0}, {3, 0.05}}, {{3, 0.5}}, "run <a&b>");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("run &lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_NE(svg.find("(log scale)"), std::string::npos);  // 6 / 0.05 > 20
  size_t lines = 0;
  for (size_t at = 0; (at = svg.find("<polyline", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 2u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace ckpt::runtime
