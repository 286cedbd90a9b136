#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

#include "formats/error.h"

namespace ckpt::runtime {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Holds back the tail of the text that could still grow into a stop string.
class StopFilter {
 public:
  explicit StopFilter(const std::vector<std::string>& stops) : stops_(stops) {}
  // Returns text safe to emit; sets `hit` when a stop string completed (text before it is returned).
  std::string push(std::string_view piece, bool& hit) {
    buffer_ += piece;
    size_t first = std::string::npos;
    for (const auto& s : stops_) {
      if (s.empty()) continue;
      first = std::min(first, buffer_.find(s));
    }
    if (first != std::string::npos) {
      hit = true;
      std::string out = buffer_.substr(0, first);
      buffer_.clear();
      return out;
    }
    size_t hold = 0;
    for (const auto& s : stops_) {
      for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), buffer_.size()); k > hold; --k) {
        if (buffer_.compare(buffer_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
      }
    }
    std::string out = buffer_.substr(0, buffer_.size() - hold);
    buffer_.erase(0, buffer_.size() - hold);
    return out;
  }
  std::string flush() {
    std::string out;
    out.swap(buffer_);
    return out;
  }

 private:
  const std::vector<std::string>& stops_;
  std::string buffer_;
};

}  // namespace

GenerateResult generate(Forward& forward, const Tokenizer& tok, std::string_view prompt, const GenerateOptions& options,
                        const std::function<void(std::string_view)>& on_text) {
  return generate_tokens(forward, tok, tok.encode(prompt, options.add_special, options.parse_special), options, on_text);
}

GenerateResult generate_tokens(Forward& forward, const Tokenizer& tok, std::vector<int32_t> prompt_tokens,
                               const GenerateOptions& options, const std::function<void(std::string_view)>& on_text) {
  GenerateResult result;
  result.prompt_tokens = std::move(prompt_tokens);
  if (result.prompt_tokens.empty()) {
    // Nothing to condition on: start from BOS (as llama2.c's run does for an empty prompt).
    if (tok.bos() < 0) {
      throw Error(ErrorCode::InvalidArgument, forward.model().path, Error::kNoOffset, "prompt",
                  "empty prompt and the vocabulary has no BOS token to start from");
    }
    result.prompt_tokens.push_back(tok.bos());
  }
  Detokenizer detok(tok);
  auto emit = [&](std::string_view s) {
    if (!s.empty() && on_text) on_text(s);
  };
  if (options.echo_prompt) {
    std::string echoed;
    for (int32_t id : result.prompt_tokens) echoed += detok.push(id);
    emit(echoed);
  } else {
    for (int32_t id : result.prompt_tokens) detok.push(id);
  }
  detok.flush();  // the prompt's partial characters are not carried into the generation

  // The last prompt token is always evaluated: its logits pick the first new token.
  const size_t reuse = std::min({options.reuse_prefix, static_cast<size_t>(forward.n_past()), result.prompt_tokens.size() - 1});
  forward.rewind(static_cast<uint32_t>(reuse));
  Sampler sampler(options.sampling);
  StopFilter stop(options.stop);
  std::vector<int32_t> history = result.prompt_tokens;
  const auto start = Clock::now();
  std::span<const float> logits = forward.eval(std::span(result.prompt_tokens).subspan(reuse));
  result.prompt_seconds = seconds_since(start);
  const auto gen_start = Clock::now();
  result.stop_reason = "length";
  for (int i = 0; i < options.max_new_tokens; ++i) {
    const int32_t next = sampler.sample(logits, history);
    if (i == 0) result.first_token_seconds = seconds_since(start);
    if (options.stop_at_eos && tok.is_end_of_generation(next)) {
      result.stop_reason = "eos";
      break;
    }
    result.tokens.push_back(next);
    history.push_back(next);
    bool hit = false;
    const std::string text = stop.push(detok.push(next), hit);
    result.text += text;
    emit(text);
    if (hit) {
      result.stop_reason = "stop string";
      break;
    }
    if (i + 1 == options.max_new_tokens) break;
    if (forward.n_past() >= forward.n_ctx()) {
      result.stop_reason = "context";
      break;
    }
    logits = forward.eval(std::span<const int32_t>(&next, 1));
  }
  result.generate_seconds = seconds_since(gen_start);
  if (result.stop_reason != "stop string") {
    bool hit = false;
    std::string rest = stop.push(detok.flush(), hit);
    rest += stop.flush();
    result.text += rest;
    emit(rest);
  }
  return result;
}

}  // namespace ckpt::runtime
