// `ckpt convert INPUT -o OUTPUT`: HF directory / llama2.c .bin -> GGUF, or GGUF -> HF with --to hf.
#include <cstdio>
#include <filesystem>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "convert/convert.h"
#include "formats/error.h"
#include "formats/architecture.h"
#include "formats/model_source.h"
#include "formats/progress.h"
#include "formats/safetensors_index.h"
#include "inspect/cli/commands.h"

namespace ckpt::cli {

namespace {
struct ConvertFlags {
  ConvertOptions options;
  std::string split_max_size;
  bool no_progress = false;
  bool list_archs = false;
  bool json = false;
};
}  // namespace

namespace {
nlohmann::ordered_json overflow_json(const ConvertReport& report) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& [name, count] : report.f16_overflow) rows.push_back({{"tensor", name}, {"values", count}});
  return rows;
}
}  // namespace

void add_convert_command(CLI::App& app) {
  auto flags = std::make_shared<ConvertFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand("convert", "Convert an HF checkpoint (or llama2.c .bin) to GGUF, or a GGUF back to HF");
  cmd->add_option("input", o.input,
                  "HF model directory, llama2.c model .bin, .gguf (with --to hf), a PEFT adapter directory (with --base), "
                  "or a GGUF LoRA (with --to peft --base)");
  cmd->add_option("-o,--output,--outfile", o.output,
                  "Output .gguf file, .ckpt archive, or directory with --to hf / --to peft; {ftype} in the name becomes the type (default: ./{name}-{ftype}.gguf)");
  cmd->add_flag("--list-archs", flags->list_archs, "Print the architectures convert reads (HF name -> GGUF architecture) and exit");
  cmd->add_option("--to", o.to, "Output format")->check(CLI::IsMember({"gguf", "hf", "peft", "ckpt"}))->default_str("gguf");
  cmd->add_option("--base", o.base, "Adapters: the base model (HF directory or GGUF) they were trained on");
  cmd->add_option("--outtype", o.outtype, "f32, f16, bf16, q8_0, or auto (the default to GGUF, as convert_hf_to_gguf: BF16 stays BF16, F16 stays F16, F32 becomes F16)")
      ->transform(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "auto"}, CLI::ignore_case));
  cmd->add_option("--llama2c-vocab", o.llama2c_vocab, "tokenizer.bin of a llama2.c checkpoint (e.g. tok512.bin)");
  cmd->add_option("--name", o.model_name, "general.name (default: the input's name)");
  cmd->add_option("--split-max-size", flags->split_max_size, "Split the GGUF into shards of at most this size (e.g. 2G, 500M)");
  cmd->add_option("--split-max-tensors", o.split.max_tensors, "Split the GGUF into shards of at most N tensors");
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: all cores; at most the core count is used)")
      ->check(CLI::Range(1u, 1024u));
  cmd->add_flag("--force", o.force, "With --to hf: replace a non-empty output directory");
  cmd->add_flag("--allow-overflow", o.allow_overflow, "Narrowing to f16: write values beyond f16's range as inf instead of refusing (each tensor is reported)");
  cmd->add_flag("--dry-run", o.dry_run, "Print the plan (names, types, shapes) and write nothing");
  cmd->add_flag("--no-progress", flags->no_progress, "No progress bar even on a terminal");
  cmd->add_flag("--json", flags->json, "Print the plan (--dry-run) or the report as one JSON object");
  cmd->callback([flags] {
    if (flags->list_archs) {
      for (const auto& name : supported_architectures()) {
        const Architecture* a = find_architecture(name);
        fmt::print("{:<30} -> {}{}\n", name, a ? a->gguf_arch : "?", a && !a->runs ? "  (convert only: ckpt run has no forward pass for it)" : "");
      }
      fmt::print("{:<30} -> {}\n", "llama2.c (run.c model.bin)", "llama");
      return;
    }
    if (flags->options.input.empty()) throw CLI::ValidationError("input", "is required (or pass --list-archs)");
    auto options = flags->options;
    if (!options.model_name.empty() && (options.to == "hf" || options.to == "peft")) {
      throw CLI::ValidationError("--name", "sets general.name of a GGUF; it does not apply to --to " + options.to);
    }
    if (options.output.empty()) {
      // convert_hf_to_gguf.py's habit: {name}-{outtype}.gguf when no output is named (here: in the
      // current directory, never inside the input).
      if (options.to != "gguf" || !options.base.empty()) throw CLI::ValidationError("--output", "is required");
      // A directory's whole name ("Qwen2.5-7B"); a file's without its extension (stories260K.bin).
      std::string name = path_name(options.input);
      if (!std::filesystem::is_directory(options.input)) name = std::filesystem::path(name).stem().string();
      options.output = name + "-{ftype}.gguf";
    }
    if (!flags->split_max_size.empty()) {
      // llama.cpp's --split-max-size takes decimal M/G suffixes ("2G" = 2,000,000,000 bytes).
      std::string s = flags->split_max_size;
      if (s.ends_with("G") || s.ends_with("M") || s.ends_with("K")) s += "B";
      options.split.max_bytes = parse_shard_size(s);
    }
    options.progress = !flags->no_progress && progress_wanted();
    const ConvertReport report = convert(options);
    if (flags->json) {
      nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
      for (const auto& t : report.tensors) tensors.push_back({{"source_name", t.source_name}, {"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
      const nlohmann::ordered_json j = {{"input", options.input},  {"output", resolve_output_name(options.output, report.outtype)},   {"to", options.to},
                                        {"dry_run", options.dry_run}, {"architecture", report.architecture}, {"outputs", report.outputs},
                                        {"shape_order", "outermost first"}, {"outtype", report.outtype}, {"tensors", tensors},
                                        {"f16_overflow", overflow_json(report)}, {"bytes_in", report.bytes_in},
                                        {"bytes_out", report.bytes_out}, {"seconds", report.seconds}};
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return;
    }
    if (options.dry_run) {
      for (const auto& t : report.tensors) {
        std::string dims;
        for (auto d : t.shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
        fmt::print("{:<48} -> {:<40} {:<5} [{}]\n", escape_for_display(t.source_name), escape_for_display(t.name), t.dtype, dims);
      }
      fmt::print("dry run: {} tensors (shapes outermost first), {} ({:.1f} MB in), nothing written\n", report.tensors.size(), report.architecture,
                 static_cast<double>(report.bytes_in) / 1e6);
      return;
    }
    for (const auto& [name, count] : report.f16_overflow) {
      fmt::print(stderr, "warning: {}: {} value(s) beyond f16's range written as inf/NaN (--allow-overflow)\n", escape_for_display(name), count);
    }
    if (quiet_output()) return;
    for (const auto& out : report.outputs) fmt::print("wrote {}\n", out);
    fmt::print("{} tensors ({}), {:.1f} MB in, {:.1f} MB out, {:.2f} s\n", report.tensors.size(), report.architecture,
               static_cast<double>(report.bytes_in) / 1e6, static_cast<double>(report.bytes_out) / 1e6, report.seconds);
  });
}

}  // namespace ckpt::cli
