// libFuzzer entry: any bytes as prompt text through the runtime's tokenizers. Byte-level BPE (GPT-2,
// Llama-3 and Qwen2 pre-tokenizers) must give the input back exactly when decoded; SentencePiece
// (the sample's vocabulary, byte fallback) must give ids inside the vocabulary; the streaming
// decoder must never emit invalid UTF-8. Nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "formats/tokenizer_meta.h"
#include "runtime/byte_unicode.h"
#include "runtime/tokenizer.h"
#include "runtime/unicode.h"

namespace {

using ckpt::runtime::Tokenizer;

// A small byte-level BPE vocabulary: the 256 byte symbols plus a few merges, enough to exercise the
// merge queue and the pre-tokenizers.
ckpt::TokenizerMeta bpe_meta(const std::string& pre) {
  ckpt::TokenizerMeta m;
  m.model = "gpt2";
  m.pre = pre;
  for (int b = 0; b < 256; ++b) m.tokens.push_back(ckpt::runtime::byte_to_unicode_utf8(static_cast<uint8_t>(b)));
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"\xC4\xA0", "t"}, {"h", "e"}, {"\xC4\xA0t", "he"}, {"i", "n"}, {"\xC4\xA0", "a"}, {"e", "r"}, {"1", "2"}, {"'", "s"}};
  for (const auto& [a, b] : merges) {
    m.merges.push_back(a + " " + b);
    m.tokens.push_back(a + b);
  }
  m.tokens.push_back("<|endoftext|>");
  m.types.assign(m.tokens.size(), ckpt::TokenType::Normal);
  m.types.back() = ckpt::TokenType::Control;
  m.eos_id = static_cast<uint32_t>(m.tokens.size() - 1);
  return m;
}

struct Tokenizers {
  std::vector<std::unique_ptr<Tokenizer>> bpe;
  std::unique_ptr<Tokenizer> spm;
  Tokenizers() {
    for (const char* pre : {"gpt-2", "llama-bpe", "qwen2"}) bpe.push_back(std::make_unique<Tokenizer>(bpe_meta(pre), "fuzz"));
    const std::string dir = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";
    if (auto meta = ckpt::read_hf_tokenizer(dir, dir + "/config.json", std::nullopt)) spm = std::make_unique<Tokenizer>(*meta, dir);
  }
};

void check_valid_utf8(const std::string& s) {
  // Re-encoding the decoded code points gives the same bytes only for valid UTF-8.
  const auto cps = ckpt::runtime::decode_utf8(s);
  std::string again;
  for (uint32_t cp : cps.cps) ckpt::runtime::append_utf8(again, cp);
  if (again != s) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizers toks;
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const auto& tok : toks.bpe) {
    const auto ids = tok->encode(text, false, false);
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= tok->size()) std::abort();
    }
    if (tok->decode(ids) != text) std::abort();  // byte-level BPE loses nothing
    tok->encode(text, true, true);                // special-token parsing path
  }
  if (toks.spm) {
    const auto ids = toks.spm->encode(text, true, true);
    ckpt::runtime::Utf8Streamer stream;
    std::string streamed;
    for (int32_t id : ids) {
      if (id < 0 || static_cast<size_t>(id) >= toks.spm->size()) std::abort();
      streamed += stream.push(toks.spm->piece(id));
    }
    streamed += stream.flush();
    check_valid_utf8(streamed);
  }
  return 0;
}
