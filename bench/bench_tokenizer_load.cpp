// Loading a 150k-entry byte-level BPE tokenizer.json (Qwen2/Qwen3-sized: 151,643 tokens, 151,387
// merges, generated here once) as `run` does for every HF directory: read_hf_tokenizer + the runtime
// Tokenizer. Goal: under 1 s. Baseline in the same run: nlohmann parsing the same file (the JSON alone).
// Medians of CKPT_BENCH_RUNS (default 5) runs. CKPT_BENCH_DIR holds the generated file.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_support.h"
#include "formats/tokenizer_meta.h"
#include "runtime/tokenizer.h"

namespace {

namespace fs = std::filesystem;

// GPT-2's byte-to-unicode map, so every token is a valid byte-level BPE string.
std::string byte_char(unsigned b) {
  unsigned cp = b;
  if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
    static unsigned next = 0;
    static unsigned map[256] = {};
    static bool built = false;
    if (!built) {
      for (unsigned x = 0; x < 256; ++x) {
        if (!((x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) map[x] = 256 + next++;
      }
      built = true;
    }
    cp = map[b];
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

fs::path ensure_tokenizer() {
  const fs::path dir = ckpt::bench::bench_dir() / "ckpt-bench-tokenizer-150k";
  if (fs::exists(dir / "tokenizer.json")) return dir;
  fs::create_directories(dir);
  nlohmann::json vocab = nlohmann::json::object();  // std::map: ordered_json inserts in linear time
  std::vector<std::string> tokens;
  for (unsigned b = 0; b < 256; ++b) {
    tokens.push_back(byte_char(b));
    vocab[tokens.back()] = b;
  }
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  std::unordered_set<std::string> seen(tokens.begin(), tokens.end());
  // Each new token joins two earlier ones (deterministic pseudo-random pairs), as BPE training does.
  uint64_t x = 88172645463325252ull;
  while (tokens.size() < 151643) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const size_t a = x % tokens.size(), b = (x >> 20) % std::min<size_t>(tokens.size(), 4096);
    std::string t = tokens[a] + tokens[b];
    if (t.size() > 48 || !seen.insert(t).second) continue;
    merges.push_back(tokens[a] + " " + tokens[b]);
    vocab[t] = tokens.size();
    tokens.push_back(t);
  }
  const nlohmann::ordered_json tok = {
      {"version", "1.0"},
      {"added_tokens", {{{"id", 151643}, {"content", "<|endoftext|>"}, {"special", true}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
  std::ofstream(dir / "tokenizer.json") << tok.dump();
  std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "<|endoftext|>", "model_max_length": 32768})";
  return dir;
}

double seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main() {
  const fs::path dir = ensure_tokenizer();
  const int runs = std::getenv("CKPT_BENCH_RUNS") ? std::atoi(std::getenv("CKPT_BENCH_RUNS")) : 5;
  std::vector<double> load_s, json_s;
  size_t n_tokens = 0;
  for (int i = 0; i < runs; ++i) {
    json_s.push_back(seconds([&] {
      std::ifstream in(dir / "tokenizer.json");
      const auto j = nlohmann::json::parse(in);
      n_tokens = j["model"]["vocab"].size();
    }));
    load_s.push_back(seconds([&] {
      const auto meta = ckpt::read_hf_tokenizer(dir.string(), "", std::nullopt);
      const ckpt::runtime::Tokenizer tok(*meta, dir.string());
      const auto ids = tok.encode("Hello world, a quick smoke test of the loaded vocabulary.", false, true);
      if (ids.empty()) std::exit(1);
    }));
  }
  std::printf("tokenizer.json %.1f MB, %zu tokens: load (read_hf_tokenizer + Tokenizer) median %.3f s; nlohmann parse alone median %.3f s; "
              "ratio %.2fx (median of %d; goal: load < 1 s)\n",
              static_cast<double>(fs::file_size(dir / "tokenizer.json")) / 1e6, n_tokens, ckpt::bench::median(load_s),
              ckpt::bench::median(json_s), ckpt::bench::median(load_s) / ckpt::bench::median(json_s), runs);
  return 0;
}
