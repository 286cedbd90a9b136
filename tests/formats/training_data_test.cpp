// Instruction data (JSONL): every record shape, every problem with its line, byte offset and field, the
// RAFT rendering spelled out by hand, duplicates, and the split against an independent SplitMix64 +
// Fisher-Yates evaluation (Python, recorded below).
#include <gtest/gtest.h>

#include "formats/training_data.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

std::string write(test::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("d.jsonl");
  test::write_file_bytes(path, std::as_bytes(std::span(text)));
  return path;
}

TEST(TrainingData, ReadsEveryShapeAndRendersRaft) {
  test::TempDir dir;
  const std::string text =
      R"({"instruction": "Use the context.", "context": ["C1.", "C2."], "question": "Q?", "answer": "A.", "cot": "Because."})" "\n"
      R"({"instruction": "I", "context": "Only one.", "question": "Q", "answer": "A"})" "\n"
      "\r\n"
      R"({"prompt": "2+2=", "completion": "4"})" "\r\n"
      R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "text", "text": "yo"}]}]})" "\n"
      R"({"text": "plain"})";
  const TrainingData d = read_training_data(write(dir, text));
  ASSERT_EQ(d.problems.size(), 0u) << d.problems[0].message;
  ASSERT_EQ(d.records.size(), 5u);
  EXPECT_EQ(d.lines, 5u);
  EXPECT_EQ(d.records[0].kind, RecordKind::Raft);
  EXPECT_EQ(d.records[0].prompt, "Use the context.\n\nC1.\n\nC2.\n\nQuestion: Q?\nAnswer: ");
  EXPECT_EQ(d.records[0].completion, "Because.\nA.");
  EXPECT_EQ(d.records[1].prompt, "I\n\nOnly one.\n\nQuestion: Q\nAnswer: ");
  EXPECT_EQ(d.records[1].completion, "A");
  EXPECT_EQ(d.records[2].kind, RecordKind::PromptCompletion);
  EXPECT_EQ(d.records[2].line, 4u) << "blank lines count as lines";
  EXPECT_EQ(d.records[2].raw, R"({"prompt": "2+2=", "completion": "4"})") << "the CR of a CRLF line is not part of it";
  EXPECT_EQ(d.records[3].kind, RecordKind::Chat);
  EXPECT_EQ(d.records[3].messages.size(), 2u);
  EXPECT_EQ(d.records[4].kind, RecordKind::Text);
  EXPECT_EQ(d.records[4].completion, "plain");
}

TEST(TrainingData, EveryProblemNamesItsLineOffsetAndField) {
  test::TempDir dir;
  const std::string l1 = R"({"instruction": "x", "context": [], "question": "q", "answer": " "})";
  const std::string l2 = R"({"prompt": 3, "completion": "x"})";
  const std::string l3 = R"([1, 2)";
  const std::string l4 = R"({"foo": 1})";
  const std::string l5 = R"({"messages": [{"content": "no role"}]})";
  const std::string l6 = "{\"text\": \"bad \xff byte\"}";
  const std::string l7 = R"({"messages": 1e999999})";  // found by fuzz_training_data: nlohmann's out_of_range
  const std::string path = write(dir, l1 + "\n" + l2 + "\n" + l3 + "\n" + l4 + "\n" + l5 + "\n" + l6 + "\n" + l7 + "\n");
  const TrainingData d = read_training_data(path);
  EXPECT_EQ(d.records.size(), 0u);
  ASSERT_EQ(d.problems.size(), 8u);
  auto expect = [&](size_t i, uint64_t line, const std::string& field, const std::string& message) {
    EXPECT_EQ(d.problems[i].line, line) << i;
    EXPECT_EQ(d.problems[i].field, field) << i;
    EXPECT_NE(d.problems[i].message.find(message), std::string::npos) << i << ": " << d.problems[i].message;
    EXPECT_TRUE(d.problems[i].error) << i;
  };
  expect(0, 1, "answer", "is empty");
  expect(1, 1, "context", "empty list");
  expect(2, 2, "prompt", "must be a string, found number");
  expect(3, 3, "record", "not valid JSON");
  expect(4, 4, "record", "none of the known shapes");
  expect(5, 5, "messages[0].role", "missing");
  expect(6, 6, "record", "not valid UTF-8");
  expect(7, 7, "record", "number out of range");
  const uint64_t line2 = l1.size() + 1, line3 = line2 + l2.size() + 1;
  EXPECT_EQ(d.problems[2].offset, line2);
  EXPECT_EQ(d.problems[3].offset, line3 + l3.size()) << "where the JSON parser ran out of input";
  const uint64_t line6 = line3 + l3.size() + 1 + l4.size() + 1 + l5.size() + 1;
  EXPECT_EQ(d.problems[6].offset, line6 + 14) << "the bad byte itself";
  EXPECT_EQ(d.errors(), 8u);
}

TEST(TrainingData, WarnsAboutDuplicatesAndLongRecords) {
  test::TempDir dir;
  const std::string path = write(dir,
                                 R"({"prompt": "Hello, World!", "completion": "x"})" "\n"
                                 R"({"prompt": "Hello, World!", "completion": "x"})" "\n"
                                 R"({"prompt": "hello world", "completion": "X."})" "\n"
                                 R"({"text": "0123456789ABC"})" "\n");
  DataLimits limits;
  limits.max_chars = 12;
  const TrainingData d = read_training_data(path, limits);
  ASSERT_EQ(d.records.size(), 4u) << "warnings keep the record";
  // Every record is over 12 characters ("Hello, World!x" is 14); lines 2 and 3 repeat line 1.
  ASSERT_EQ(d.problems.size(), 6u);
  EXPECT_EQ(d.errors(), 0u);
  EXPECT_EQ(d.problems[0].line, 1u);
  EXPECT_NE(d.problems[0].message.find("14 characters exceed the limit of 12"), std::string::npos);
  EXPECT_EQ(d.problems[2].line, 2u);
  EXPECT_EQ(d.problems[2].message, "duplicates line 1");
  EXPECT_EQ(d.problems[4].line, 3u);
  EXPECT_NE(d.problems[4].message.find("near duplicate of line 1"), std::string::npos);
  EXPECT_EQ(d.problems[5].line, 4u);
  EXPECT_NE(d.problems[5].message.find("13 characters"), std::string::npos);
}

TEST(TrainingData, SplitMatchesAnIndependentEvaluation) {
  // Python: SplitMix64(seed) driving Fisher-Yates from the last index, rejection above
  // 2^64-1 - (2^64-1) % i, the first round(n * val) indices to validation.
  EXPECT_EQ(split_training_data(19, 0.25, 7).validation, (std::vector<size_t>{0, 3, 8, 9, 10}));
  EXPECT_EQ(split_training_data(10, 0.3, 123).validation, (std::vector<size_t>{3, 4, 7}));
  const DataSplit s = split_training_data(10, 0.3, 123);
  EXPECT_EQ(s.train, (std::vector<size_t>{0, 1, 2, 5, 6, 8, 9}));
  EXPECT_EQ(split_training_data(2, 0.01, 1).validation.size(), 1u) << "at least one when asked for any";
  EXPECT_TRUE(split_training_data(5, 0.0, 1).validation.empty());
  test::expect_error(ErrorCode::InvalidArgument, [] { split_training_data(5, 1.0, 1); });
}

}  // namespace
}  // namespace ckpt
