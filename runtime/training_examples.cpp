#include "runtime/training_examples.h"

#include <fmt/format.h>

#include "formats/error.h"
#include "formats/splitmix64.h"
#include "runtime/jinja.h"

namespace ckpt::runtime {

RenderedRecord render_record(const TrainingRecord& r, const Model& model, const std::string& data_path) {
  RenderedRecord out;
  out.line = r.line;
  out.offset = r.offset;
  out.kind = r.kind;
  if (r.kind == RecordKind::Text) {
    out.target = r.completion;
    return out;
  }
  if (r.kind != RecordKind::Chat) {
    out.prompt = r.prompt;
    out.reference = out.target = r.completion;
    return out;
  }
  const auto& last = r.messages.back();
  if (last.value("role", "") != "assistant" || !last.contains("content") || !last["content"].is_string()) {
    throw Error(ErrorCode::InvalidArgument, data_path, r.offset, "messages", fmt::format("line {}: the last message must be the assistant's answer", r.line));
  }
  if (model.vocab.chat_template.empty()) {
    throw Error(ErrorCode::NotFound, model.path, Error::kNoOffset, "chat_template", fmt::format("{} line {}: chat records need the model's chat template", data_path, r.line));
  }
  out.reference = last["content"].get<std::string>();
  nlohmann::ordered_json before = r.messages;
  before.erase(before.size() - 1);
  const auto& tmpl = model.vocab.chat_template;
  out.prompt = render_chat_prompt(model.vocab, tmpl, {{"messages", before}, {"add_generation_prompt", true}}, model.path, /*strip_bos=*/true);
  const std::string full = render_chat_prompt(model.vocab, tmpl, {{"messages", r.messages}, {"add_generation_prompt", false}}, model.path, true);
  out.target = full.compare(0, out.prompt.size(), out.prompt) == 0 ? full.substr(out.prompt.size()) : out.reference;
  return out;
}

TokenizedExample tokenize_record(const Tokenizer& tok, const RenderedRecord& r, size_t max_seq_length) {
  TokenizedExample e;
  e.line = r.line;
  if (!r.prompt.empty()) {
    e.ids = tok.encode(r.prompt, /*add_special=*/true, /*parse_special=*/true);
  } else if (tok.bos() >= 0) {
    e.ids = tok.encode("", true, false);  // BOS alone, if the vocabulary adds one
  }
  e.n_prompt = e.ids.size();
  const auto target = tok.encode(r.target, /*add_special=*/false, /*parse_special=*/r.kind == RecordKind::Chat);
  e.ids.insert(e.ids.end(), target.begin(), target.end());
  if (tok.eos() >= 0 && (e.ids.empty() || !tok.is_end_of_generation(e.ids.back()))) e.ids.push_back(tok.eos());
  e.n_before_cut = e.ids.size();
  if (max_seq_length && e.ids.size() > max_seq_length) e.ids.resize(max_seq_length);
  return e;
}

size_t TrainingSequence::n_targets() const {
  size_t n = 0;
  for (int32_t l : labels) n += l >= 0;
  return n;
}

std::vector<TrainingSequence> build_sequences(const std::vector<TokenizedExample>& examples, const std::vector<size_t>& order,
                                              size_t max_seq_length, bool pack, bool train_on_prompt) {
  std::vector<TrainingSequence> out;
  TrainingSequence row;
  int32_t segment = 0;
  auto flush = [&] {
    if (!row.ids.empty()) out.push_back(std::move(row));
    row = {};
    segment = 0;
  };
  for (size_t idx : order) {
    const TokenizedExample& e = examples[idx];
    if (e.ids.size() < 2) continue;  // nothing to predict
    if (!pack || (max_seq_length && row.ids.size() + e.ids.size() > max_seq_length)) flush();
    for (size_t i = 0; i < e.ids.size(); ++i) {
      row.ids.push_back(e.ids[i]);
      // Position i predicts token i + 1: trained when that token is in the target (or anywhere with
      // train_on_prompt), never across the end of the example.
      const bool trained = i + 1 < e.ids.size() && (train_on_prompt || i + 1 >= e.n_prompt);
      row.labels.push_back(trained ? e.ids[i + 1] : -100);
      row.positions.push_back(static_cast<int32_t>(i));
      row.segments.push_back(segment);
    }
    ++segment;
    if (!pack) flush();
  }
  flush();
  return out;
}

std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool no_shuffle) {
  if (!no_shuffle) return shuffled_indices(n, seed + epoch);
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  return order;
}

}  // namespace ckpt::runtime
