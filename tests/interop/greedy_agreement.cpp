// Teacher-forced comparison of greedy ids for the interop tests: feeds the prompt, then the ids another
// implementation (llama.cpp) chose, one at a time, and checks that at every step ckpt's runtime picks the same id, or
// that the two candidates are a near-tie in ckpt's logits (gap below --tie of the logits' standard
// deviation), where 8-bit activation and f16 KV-cache rounding legitimately decide either way.
// Usage: greedy_agreement MODEL PROMPT IDS(comma-separated) TIE_FRACTION
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "formats/error.h"
#include "runtime/runtime.h"

int main(int argc, char** argv) {
  using namespace ckpt::runtime;
  if (argc != 5) {
    std::fprintf(stderr, "usage: greedy_agreement MODEL PROMPT IDS TIE_FRACTION\n");
    return 2;
  }
  try {
    const Model model = load_model(argv[1]);
    const Tokenizer tok(model.vocab, argv[1]);
    std::vector<int32_t> ids = tok.encode(argv[2], true, false);
    const size_t n_prompt = ids.size();
    std::stringstream list(argv[3]);
    for (std::string item; std::getline(list, item, ',');) ids.push_back(std::stoi(item));
    const double tie = std::atof(argv[4]);
    // Prompt as one batch, then one token at a time, as generation (and llama.cpp's decode) runs.
    // The context `ckpt run -c 256` has (Phi-3 longrope picks its factors by the context size).
    Forward forward(model, static_cast<uint32_t>(std::max<size_t>(ids.size() + 1, 256)), 1);
    const size_t V = model.hp.n_vocab;
    const auto first = forward.eval(std::span(ids).first(n_prompt));
    std::vector<float> row(first.begin(), first.end());
    int exact = 0, ties = 0, disagreements = 0;
    for (size_t p = n_prompt - 1; p + 1 < ids.size(); ++p) {
      if (p >= n_prompt) {
        const auto next = forward.eval(std::span(ids).subspan(p, 1));
        row.assign(next.begin(), next.end());
      }
      const int32_t mine = argmax(row), theirs = ids[p + 1];
      double mean = 0, var = 0;
      for (float v : row) mean += v;
      mean /= static_cast<double>(V);
      for (float v : row) var += (v - mean) * (v - mean);
      const double sd = std::sqrt(var / static_cast<double>(V));
      const double gap = row[mine] - row[theirs];
      const char* verdict = mine == theirs ? "same" : gap <= tie * sd ? "near-tie" : "DIFFERENT";
      std::printf("step %zu: llama.cpp %d, ckpt %d, gap %.3g (%.2f%% of logit sd) %s\n", p + 1 - n_prompt, theirs, mine, gap,
                  100 * gap / sd, verdict);
      exact += mine == theirs;
      ties += mine != theirs && gap <= tie * sd;
      disagreements += mine != theirs && gap > tie * sd;
    }
    std::printf("%d same, %d near-ties, %d different\n", exact, ties, disagreements);
    return disagreements == 0 ? 0 : 1;
  } catch (const ckpt::Error& e) {
    std::fprintf(stderr, "greedy_agreement: %s\n", e.what());
    return 1;
  }
}
