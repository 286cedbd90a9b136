#include "generation_flags.h"  // beside this file (the CLI's own, not a library header)

#include <cmath>

#include "convert/merge.h"

namespace ckpt::cli {

const CLI::Validator kFinite(
    [](std::string& text) {
      double v = 0;
      try {
        size_t used = 0;
        v = std::stod(text, &used);
        if (used != text.size()) return std::string("not a number: " + text);
      } catch (const std::exception&) {
        return std::string("not a number: " + text);
      }
      return std::isfinite(v) ? std::string() : std::string("must be a finite number, not " + text);
    },
    "FINITE");

void add_sampling_flags(CLI::App* cmd, runtime::SamplingParams& s) {
  cmd->add_option("--temp,--temperature", s.temperature, "Temperature; 0 = greedy")->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k,--top_k", s.top_k, "Keep the k most likely tokens (<= 0: off)")->capture_default_str();
  cmd->add_option("--top-p,--top_p", s.top_p, "Nucleus sampling mass (1: off)")->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", s.min_p, "Drop tokens below min-p times the top probability (0: off)")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty,--repetition_penalty", s.repeat_penalty, "Penalty for recently seen tokens (1: off)")
      ->capture_default_str()->check(kFinite)->check(CLI::Range(0.01, 100.0));
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "Window of the repeat penalty (-1: all)")->capture_default_str();
  cmd->add_option("--no-repeat-ngram-size,--no_repeat_ngram_size", s.no_repeat_ngram_size, "Never repeat an n-gram of this size (0: off)")
      ->capture_default_str()->check(CLI::Range(0, 1024));
}

std::vector<runtime::LoraSpec> lora_specs(const std::vector<std::string>& flags) {
  std::vector<runtime::LoraSpec> specs;
  for (const auto& a : flags) {
    const auto spec = parse_adapter_spec(a);
    specs.push_back({spec.path, spec.weight});
  }
  return specs;
}

}  // namespace ckpt::cli
