// Training and evaluation records as the runtime sees them. One rendering serves `ckpt data check`
// (token lengths), `ckpt eval` (the prompt it generates from, the reference it scores against) and
// `ckpt finetune` (the tokens it trains on), so what is measured, trained and evaluated is the same text.
//
//   RAFT, prompt/completion  prompt as formats/training_data.h renders it; target = completion
//   text                     empty prompt; target = the text (every token trained)
//   chat                     prompt = the messages before the last (assistant) one through the model's
//                            chat template with add_generation_prompt; target = what the full rendering
//                            adds after that prompt (the answer and the template's end-of-turn marker),
//                            or the answer alone when the two renderings do not share the prefix
//
// Tokens: encode(prompt) with BOS as the vocabulary asks, then encode(target) without specials, then EOS
// unless the target already ends the turn. The prompt is tokenized alone because generation is fed
// exactly that; the target's tokens are the continuation the model learns to produce after it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/training_data.h"
#include "runtime/model.h"
#include "runtime/tokenizer.h"

namespace ckpt::runtime {

struct RenderedRecord {
  uint64_t line = 0, offset = 0;
  RecordKind kind = RecordKind::Text;
  std::string prompt;     // what generation is fed
  std::string reference;  // the answer text (scored by eval; empty for text records)
  std::string target;     // what training predicts after the prompt
};

// Throws Error naming `data_path`, the line's offset and "messages" for a chat record that does not end
// with the assistant's answer, or a chat record when the model has no chat template.
RenderedRecord render_record(const TrainingRecord& record, const Model& model, const std::string& data_path);

struct TokenizedExample {
  uint64_t line = 0;
  std::vector<int32_t> ids;
  size_t n_prompt = 0;       // ids[0, n_prompt) are the prompt: no loss there unless training on prompts
  size_t n_before_cut = 0;   // length before max_seq_length cut it (== ids.size() when nothing was cut)
};

TokenizedExample tokenize_record(const Tokenizer& tok, const RenderedRecord& record, size_t max_seq_length);

// One row of a training batch. labels[i] is the token position i predicts (ids[i + 1] where trained,
// -100 where not); segments keep packed examples apart (attention stays inside a segment) and
// positions restart at 0 in each one.
struct TrainingSequence {
  std::vector<int32_t> ids, labels, positions, segments;
  size_t n_targets() const;
};

// The sequences of an epoch: one per example, or with `pack` examples concatenated in the given order
// into rows of at most max_seq_length tokens (an example that does not fit starts a new row).
std::vector<TrainingSequence> build_sequences(const std::vector<TokenizedExample>& examples, const std::vector<size_t>& order,
                                              size_t max_seq_length, bool pack, bool train_on_prompt);

// Epoch e's example order: file order with `no_shuffle`, else a Fisher-Yates shuffle driven by
// SplitMix64(seed + e) (the same on every machine and for every rank).
std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool no_shuffle);

}  // namespace ckpt::runtime
