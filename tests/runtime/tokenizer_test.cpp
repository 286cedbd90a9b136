// Tokenizers against llama.cpp's own test vectors (test-tokenizer-0 .inp/.out: add_special false,
// parse_special false) and the Llama-2 tokenizer.model's known encoding.
#include <fstream>
#include <sstream>

#include "formats/tokenizer_meta.h"
#include "formats/gguf.h"
#include "runtime/byte_unicode.h"
#include "runtime/pretokenize.h"
#include "runtime/tokenizer.h"
#include "runtime/unicode.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Splits the .inp as test-tokenizer-0 does (separator "\n__ggml_vocab_test__\n") and pairs each case
// with its line of expected ids.
std::vector<std::pair<std::string, std::vector<int32_t>>> read_vectors(const std::string& inp, const std::string& out) {
  const std::string raw = slurp(inp);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream lines(out);
  std::vector<std::pair<std::string, std::vector<int32_t>>> cases;
  std::string line;
  for (const auto& input : inputs) {
    EXPECT_TRUE(std::getline(lines, line)) << "fewer .out lines than inputs";
    std::istringstream ids(line);
    std::vector<int32_t> expected;
    for (int32_t id; ids >> id;) expected.push_back(id);
    cases.emplace_back(input, expected);
  }
  return cases;
}

void check_vocab_vectors(const std::string& gguf_path) {
  const GgufFile gguf = read_gguf(gguf_path);
  const auto meta = tokenizer_from_gguf(gguf);
  ASSERT_TRUE(meta);
  const Tokenizer tok(*meta, gguf_path);
  const auto cases = read_vectors(gguf_path + ".inp", gguf_path + ".out");
  ASSERT_GT(cases.size(), 30u);
  size_t passed = 0;
  for (const auto& [text, expected] : cases) {
    const auto got = tok.encode(text, false, false);
    EXPECT_EQ(got, expected) << "input: '" << text << "'";
    passed += got == expected;
    // Decoding gives the text back (SentencePiece drops the prefix space it added).
    if (got == expected) EXPECT_EQ(tok.decode(got), text) << "input: '" << text << "'";
  }
  EXPECT_EQ(passed, cases.size());
}

TEST(TokenizerVectors, LlamaSpmMatchesLlamaCpp) {
  CKPT_SHARED_OR_SKIP(path, "llama.cpp-vocab-ggufs/ggml-vocab-llama-spm.gguf");
  check_vocab_vectors(path);
}

TEST(TokenizerVectors, Gpt2BpeMatchesLlamaCpp) {
  CKPT_SHARED_OR_SKIP(path, "llama.cpp-vocab-ggufs/ggml-vocab-gpt-2.gguf");
  check_vocab_vectors(path);
}

TEST(TokenizerVectors, Llama2TokenizerModelOnceUponATime) {
  CKPT_SHARED_OR_SKIP(path, "karpathy-llama2c-tokenizer/tokenizer.model");
  const Tokenizer tok(read_sentencepiece_model(path), path);
  EXPECT_EQ(tok.encode("Once upon a time", false, false), (std::vector<int32_t>{9038, 2501, 263, 931}));
  EXPECT_EQ(tok.encode("Once upon a time", true, false), (std::vector<int32_t>{1, 9038, 2501, 263, 931}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 9038, 2501, 263, 931}), "Once upon a time");
  // Byte fallback: a character outside the 32000 pieces becomes its UTF-8 bytes <0xXX> (id = 3 + byte).
  const auto ids = tok.encode("\xF0\x9F\xA6\x99", false, false);  // U+1F999 llama
  const std::vector<int32_t> expected_tail = {3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99};
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(std::vector<int32_t>(ids.end() - 4, ids.end()), expected_tail);
  EXPECT_EQ(tok.decode(ids), "\xF0\x9F\xA6\x99");
}

TEST(Tokenizer, SpecialTokensParsedOnlyWhenAsked) {
  CKPT_SHARED_OR_SKIP(path, "llama.cpp-vocab-ggufs/ggml-vocab-gpt-2.gguf");
  const GgufFile gguf = read_gguf(path);
  const Tokenizer tok(*tokenizer_from_gguf(gguf), path);
  const int32_t eot = tok.find("<|endoftext|>");
  ASSERT_EQ(eot, 50256);
  const auto parsed = tok.encode("Hello<|endoftext|>world", false, true);
  EXPECT_EQ(parsed, (std::vector<int32_t>{15496, 50256, 6894}));
  const auto spelled = tok.encode("Hello<|endoftext|>world", false, false);
  EXPECT_GT(spelled.size(), 3u);
  EXPECT_TRUE(tok.is_end_of_generation(eot));
}

TEST(ByteUnicode, Gpt2TableIsABijection) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  EXPECT_EQ(unicode_to_bytes(bytes_to_unicode(all)), all);
  EXPECT_EQ(byte_to_unicode(' '), 0x120u);  // "Ġ"
  EXPECT_EQ(byte_to_unicode('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(byte_to_unicode('A'), uint32_t{'A'});
}

TEST(PreTokenizer, Gpt2RegexCases) {
  auto words = [](std::string_view text, PreTokenizer kind) {
    const auto cps = decode_utf8(text);
    std::vector<std::string> out;
    for (auto [b, e] : pre_tokenize(kind, cps.cps)) {
      out.emplace_back(text.substr(cps.byte_offsets[b], cps.byte_offsets[e] - cps.byte_offsets[b]));
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(words("Hello world", PreTokenizer::Gpt2), (V{"Hello", " world"}));
  EXPECT_EQ(words("I'm  ok!!", PreTokenizer::Gpt2), (V{"I", "'m", " ", " ok", "!!"}));
  EXPECT_EQ(words("a   \n", PreTokenizer::Gpt2), (V{"a", "   \n"}));
  EXPECT_EQ(words("x 123abc", PreTokenizer::Gpt2), (V{"x", " 123", "abc"}));
  // Llama-3: digits in threes, one leading non-letter joins a word, line breaks end whitespace runs.
  EXPECT_EQ(words("12345 (Hello)\n\n  x", PreTokenizer::Llama3), (V{"123", "45", " (", "Hello", ")\n\n", " ", " x"}));
  EXPECT_EQ(words("12345", PreTokenizer::Qwen2), (V{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(words("I'M", PreTokenizer::Llama3), (V{"I", "'M"}));
}

TEST(Utf8Streamer, HoldsIncompleteCharacters) {
  Utf8Streamer s;
  EXPECT_EQ(s.push("a\xE2\x96"), "a");
  EXPECT_EQ(s.push("\x81"), "\xE2\x96\x81");
  EXPECT_EQ(s.push("\xF0"), "");
  EXPECT_EQ(s.flush(), "\xEF\xBF\xBD");  // an unfinished sequence at the end is U+FFFD
  EXPECT_EQ(s.push("\xE2\x96x"), "\xEF\xBF\xBD\xEF\xBF\xBDx");  // broken: each byte replaced
}

}  // namespace
}  // namespace ckpt::runtime

