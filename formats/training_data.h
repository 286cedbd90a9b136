// Instruction-tuning data as JSON Lines, the record shapes fine-tuning recipes read:
//   RAFT                {"instruction", "context": string | [string...], "question", "answer", "cot"?}
//   prompt/completion   {"prompt", "completion"}
//   chat                {"messages": [{"role", "content"}...]}
//   plain text          {"text"}
// Every line is parsed strictly (one JSON object per line); every problem names its line and the byte
// offset of the line in the file. A RAFT record is rendered as (the template ckpt trains with):
//   prompt     = instruction "\n\n" context_1 "\n\n" ... context_n "\n\n" "Question: " question "\n" "Answer: "
//   completion = [cot "\n"] answer
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ckpt {

enum class RecordKind { Raft, PromptCompletion, Chat, Text };
const char* record_kind_name(RecordKind kind);

struct TrainingRecord {
  uint64_t line = 0;    // 1-based
  uint64_t offset = 0;  // byte offset of the line in the file
  RecordKind kind = RecordKind::Text;
  std::string prompt;      // RAFT / prompt-completion (empty for text and chat)
  std::string completion;  // RAFT / prompt-completion; the text of a text record
  nlohmann::ordered_json messages;  // chat records
  std::string raw;         // the line as stored (split copies it byte for byte)
  // The record's whole text, for duplicate detection and length limits.
  std::string full_text() const;
};

struct DataProblem {
  uint64_t line = 0;
  uint64_t offset = 0;
  std::string field;
  std::string message;
  bool error = true;  // false: a warning (long record, duplicate)
};

struct DataLimits {
  uint64_t max_chars = 32768;  // a record longer than this (all its text) is warned about
  uint64_t max_line_bytes = uint64_t{16} << 20;  // a longer line is an error (not parsed)
};

struct TrainingData {
  std::string path;
  std::vector<TrainingRecord> records;  // the valid ones, in file order
  std::vector<DataProblem> problems;    // in line order
  uint64_t lines = 0;                   // non-empty lines read
  size_t errors() const;
};

// Reads and checks `path`: schema per line, length limits, exact and near duplicates (text equal after
// lowercasing and dropping everything but letters and digits). Throws Error only when the file cannot
// be read at all; everything about its content is a DataProblem.
TrainingData read_training_data(const std::string& path, const DataLimits& limits = {});
class MappedFile;
TrainingData read_training_data(const MappedFile& file, const DataLimits& limits = {});

// Deterministic train/validation split: a Fisher-Yates shuffle of the record indices driven by
// SplitMix64(seed) (the same on every platform), the first round(n * val_fraction) go to validation
// (at least one when n >= 2 and val_fraction > 0), each side kept in file order.
struct DataSplit {
  std::vector<size_t> train, validation;  // indices into records
};
DataSplit split_training_data(size_t n_records, double val_fraction, uint64_t seed);

}  // namespace ckpt
