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
  // transformers' generate(do_sample=False) is greedy decoding; defined last so it wins over --temp.
  cmd->add_option_function<std::string>(
         "--do_sample,--do-sample",
         [&s](const std::string& v) {
           if (v == "false" || v == "False" || v == "0") s.temperature = 0;
         },
         "transformers' name: false = greedy decoding (true: sample, the default)")
      ->expected(0, 1)
      ->default_str("true")
      ->check(CLI::IsMember({"true", "false", "True", "False", "1", "0"}));
}

void process_escapes(std::string& text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char c = text[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\'': case '"': case '\\': out += c; break;
      case 'x':
        if (i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
          out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
          i += 2;
          break;
        }
        [[fallthrough]];
      default:
        out += '\\';
        out += c;
    }
  }
  text = std::move(out);
}

CLI::Option* add_device_option(CLI::App* cmd, const std::string& flag, std::string& device, const std::string& what) {
  return cmd->add_option(flag, device, what + ": cpu, cuda, or auto (CUDA when this build has it and a GPU can take the model)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
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
