// `ckpt merge BASE ADAPTER[:WEIGHT]... -o OUT`: LoRA adapters merged into a base as PEFT's
// merge_and_unload does, in the base's format (or --outtype), streamed tensor by tensor.
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "convert/merge.h"
#include "formats/error.h"
#include "formats/progress.h"
#include "formats/safetensors_index.h"
#include "inspect/cli/commands.h"

namespace ckpt::cli {

namespace {
struct MergeFlags {
  MergeOptions options;
  std::vector<std::string> adapters;
  std::string split_max_size;
  bool no_progress = false;
  bool verbose = false;
  bool json = false;
};

std::string ratio(double v) { return v < 0 ? "-" : fmt::format("{:.3g}", v); }
}  // namespace

void add_merge_command(CLI::App& app) {
  auto flags = std::make_shared<MergeFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand("merge", "Merge LoRA/DoRA adapters into a base model exactly as PEFT's merge_and_unload");
  cmd->add_option("base", o.base, "Base model: HF directory (safetensors, .bin, bitsandbytes 4-bit) or GGUF (any type, split sets)")->required();
  cmd->add_option("adapters", flags->adapters,
                  "Adapters: PEFT directories or GGUF LoRA files, each optionally ':WEIGHT' (e.g. a:0.7 b:-0.3)")
      ->required();
  cmd->add_option("-o,--output", o.output, "Output: a directory for HF bases (or NAME.gguf to convert the merge), a .gguf for GGUF bases");
  cmd->add_option("--outtype", o.outtype,
                  "Output type: f32, f16, bf16; a GGUF type (Q8_0, Q4_K_M, ...; GGUF outputs); nf4, nf4-dq, fp4, fp4-dq (HF bases). "
                  "Default: the base's types");
  cmd->add_option("--merge-into", o.merge_into,
                  "With a 16-bit base of a QLoRA adapter: 'original' (W16, Unsloth's default) or 'nf4-roundtrip' "
                  "(dequant(NF4-dq(W16)), what the adapter was trained against, as axolotl's simulate_nf4)")
      ->check(CLI::IsMember({"original", "nf4-roundtrip"}));
  cmd->add_flag("--keep-delta", o.keep_delta, "Quantized outputs: write tensors whose delta requantization would erase as Q8_0");
  cmd->add_option("--split-max-size", flags->split_max_size, "GGUF output as a split set of shards of at most this size (e.g. 2G)");
  cmd->add_option("--split-max-tensors", o.split.max_tensors, "GGUF output as a split set of at most N tensors per shard");
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: all cores)")->check(CLI::Range(1u, 1024u));
  cmd->add_flag("--force", o.force, "Replace a non-empty output directory");
  cmd->add_flag("--dry-run", o.dry_run, "Check that every adapter fits the base and print the plan; write nothing");
  cmd->add_flag("-v,--verbose", flags->verbose, "Print every merged tensor");
  cmd->add_flag("--no-progress", flags->no_progress, "No progress bar even on a terminal");
  cmd->add_flag("--json", flags->json, "Print the plan (--dry-run) or the report as one JSON object (warnings included)");
  cmd->callback([flags] {
    auto options = flags->options;
    for (const auto& a : flags->adapters) options.adapters.push_back(parse_adapter_spec(a));
    if (options.output.empty() && !options.dry_run) {
      throw CLI::ValidationError("--output", "is required (or pass --dry-run)");
    }
    if (!flags->split_max_size.empty()) {
      std::string size = flags->split_max_size;
      if (size.ends_with("G") || size.ends_with("M") || size.ends_with("K")) size += "B";
      options.split.max_bytes = parse_shard_size(size);
    }
    options.progress = !flags->no_progress && progress_wanted();
    const MergeReport r = merge_lora(options);
    if (flags->json) {
      auto number = [](double v) { return v < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v); };  // -1: not measured
      nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
      for (const auto& t : r.tensors) {
        tensors.push_back({{"name", t.name}, {"how", t.how}, {"adapters", t.adapters}, {"dtype", std::string(dtype_name(t.dtype))},
                           {"delta_norm", options.dry_run ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(t.delta_norm)},
                           {"nf4_noise_ratio", number(t.nf4_noise_ratio)}, {"codes_changed", number(t.codes_changed)},
                           {"delta_correlation", number(t.delta_correlation)}, {"kept_as_q8_0", t.kept_as_q8_0}});
      }
      nlohmann::ordered_json adapters = nlohmann::ordered_json::array();
      for (const auto& a : options.adapters) adapters.push_back({{"path", a.path}, {"weight", a.weight}});
      const nlohmann::ordered_json j = {{"base", options.base},           {"base_format", r.base_format}, {"adapters", adapters},
                                        {"output", options.output},       {"dry_run", options.dry_run},   {"outputs", r.outputs},
                                        {"tensors_total", r.tensors_total}, {"tensors", tensors},         {"warnings", r.warnings},
                                        {"untied", r.untied},             {"seconds", r.seconds}};
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return;
    }
    const bool table = flags->verbose || options.dry_run;
    if (table) {
      fmt::print("{:<44} {:<14} {:<6} {:>10} {:>10} {:>8} {:>8}\n", "tensor", "how", "as", "|delta|", "nf4/delta", "changed", "corr");
      for (const auto& t : r.tensors) {
        fmt::print("{:<44} {:<14} {:<6} {:>10} {:>10} {:>8} {:>8}{}\n", escape_for_display(t.name), t.how, dtype_name(t.dtype), options.dry_run ? "-" : ratio(t.delta_norm),
                   ratio(t.nf4_noise_ratio), ratio(t.codes_changed), ratio(t.delta_correlation), t.kept_as_q8_0 ? "  (kept as Q8_0)" : "");
      }
    }
    for (const auto& w : r.warnings) fmt::print(stderr, "ckpt: warning: {}\n", w);
    if (quiet_output()) return;
    for (const auto& out : r.outputs) fmt::print("wrote {}\n", out);
    fmt::print("{} of {} tensors merged from {} adapter(s) into {} ({}) in {:.2f} s\n", r.tensors.size(), r.tensors_total, options.adapters.size(),
               options.base, r.base_format, r.seconds);
  });
}

}  // namespace ckpt::cli
