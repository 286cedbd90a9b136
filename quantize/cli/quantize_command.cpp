// `ckpt quantize IN.gguf -o OUT.gguf --type Q4_K_M` (or `ckpt quantize IN.gguf OUT.gguf Q4_K_M [NTHREADS]`, as
// llama-quantize takes them): llama-quantize's types and mixes, bit-exact.
#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/error.h"
#include "formats/progress.h"
#include "formats/safetensors_index.h"
#include "inspect/cli/commands.h"
#include "quantize/quant_policy.h"
#include "quantize/quantize_bnb.h"
#include "quantize/quantize_gguf.h"

namespace ckpt::cli {

namespace {
struct QuantizeFlags {
  QuantizeOptions options;
  std::string split_max_size;
  bool no_progress = false;
  bool json = false;
  std::vector<std::string> positional;
  std::string tensor_type_file;
};

// --tensor-type-file: entries separated by whitespace, as llama-quantize reads it.
void read_tensor_type_file(const std::string& path, std::vector<std::string>& out) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::Io, path, Error::kNoOffset, "--tensor-type-file", "cannot be opened");
  std::string entry;
  while (in >> entry) out.push_back(entry);
}

// The GGUF-only flags a bitsandbytes quantization cannot honour.
void refuse_gguf_flags_for_bnb(const QuantizeOptions& o) {
  const std::pair<bool, const char*> gguf_only[] = {
      {!o.imatrix.empty(), "--imatrix"}, {!o.output_tensor_type.empty(), "--output-tensor-type"},
      {!o.token_embedding_type.empty(), "--token-embedding-type"}, {o.leave_output_tensor, "--leave-output-tensor"},
      {!o.tensor_types.empty(), "--tensor-type"}, {o.keep_split, "--keep-split"}, {o.pure, "--pure"},
      {o.split.enabled(), "--split-max-*"}, {!o.include_weights.empty() || !o.exclude_weights.empty(), "--include/--exclude-weights"}};
  for (const auto& [set, flag] : gguf_only) {
    if (set) throw CLI::ValidationError(flag, "applies to GGUF types only, not to " + o.type);
  }
}

// IN [OUT [TYPE [NTHREADS]]] into the options; a value given both ways is refused, a numeric TYPE is
// llama.cpp's ftype (15 = Q4_K_M).
void resolve_positional(const std::vector<std::string>& p, QuantizeOptions& o) {
  o.input = p[0];
  auto take = [](const std::string& value, std::string& field, const char* flag) {
    if (!field.empty()) throw CLI::ValidationError(flag, "given twice (as a positional argument and as " + std::string(flag) + ")");
    field = value;
  };
  if (p.size() > 1) take(p[1], o.output, "--output");
  if (p.size() > 2) take(p[2], o.type, "--type");
  if (p.size() > 3) {
    if (o.threads) throw CLI::ValidationError("--threads", "given twice (as NTHREADS and as --threads)");
    try {
      size_t used = 0;
      const long n = std::stol(p[3], &used);
      if (used != p[3].size() || n < 1 || n > 1024) throw std::invalid_argument("range");
      o.threads = static_cast<unsigned>(n);
    } catch (const std::exception&) {
      throw CLI::ValidationError("NTHREADS", "'" + p[3] + "' is not a thread count from 1 to 1024");
    }
  }
  if (o.output.empty()) throw CLI::ValidationError("--output", "is required (-o OUT, or OUT after IN)");
  if (o.type.empty()) throw CLI::ValidationError("--type", "is required (--type TYPE, or TYPE after OUT)");
  if (std::all_of(o.type.begin(), o.type.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // llama.cpp's ftype number, named so reports show the type.
    const auto t = find_gguf_quant_type(o.type);
    if (!t) throw CLI::ValidationError("--type", "ftype " + o.type + " is not one ckpt quantizes to (the numbers are listed under --type)");
    o.type = t->name;
  }
}

std::string type_help() {
  std::string help = "Quantization type:";
  for (const auto& t : gguf_quant_types()) help += fmt::format("\n  {:<7} {:>3}  {}", t.name, t.llama_ftype, t.description);
  help += "\nbitsandbytes 4-bit (HF directory in, HF directory out):";
  help += "\n  nf4     NF4, absmax per block (QLoRA's 4-bit NormalFloat)";
  help += "\n  nf4-dq  NF4 with double quantization of the absmax (QLoRA's recipe)";
  help += "\n  fp4     bitsandbytes FP4";
  help += "\n  fp4-dq  FP4 with double quantization";
  return help;
}
}  // namespace

void add_quantize_command(CLI::App& app) {
  auto flags = std::make_shared<QuantizeFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Quantize a GGUF like llama-quantize (byte-identical, with or without an imatrix), or an HF checkpoint to bitsandbytes 4-bit");
  // Both spellings: `quantize IN -o OUT --type T` and llama-quantize's `quantize IN OUT TYPE [NTHREADS]`.
  cmd->add_option("input", flags->positional,
                  "IN [OUT TYPE [NTHREADS]]: input .gguf (first shard of a split set) or HF directory for nf4/fp4; then, as "
                  "llama-quantize takes them, the output, the type (a name or llama.cpp's ftype number) and the threads")
      ->required()
      ->expected(1, 4);
  cmd->add_option("-o,--output", o.output, "Output .gguf, or output directory for nf4/fp4");
  cmd->add_option("--blocksize", o.blocksize, "bitsandbytes block size (32..4096, power of two)")->default_val(64);
  cmd->add_option("--type", o.type, type_help());
  cmd->add_option("--split-max-size", flags->split_max_size, "Write the GGUF as a split set of shards of at most this size (e.g. 2G, 500M)");
  cmd->add_option("--split-max-tensors", o.split.max_tensors, "Write the GGUF as a split set of at most N tensors per shard");
  cmd->add_flag("--pure", o.pure, "Every quantizable tensor gets the type's default (no K-quant mix rules)");
  cmd->add_option("--keep", o.keep_patterns, "Leave tensors matching this glob as stored (repeatable), e.g. --keep 'output.weight'");
  cmd->add_flag("--allow-requantize", o.allow_requantize, "Quantize tensors that are already quantized");
  cmd->add_option("--imatrix", o.imatrix, "llama.cpp importance matrix (llama-imatrix's GGUF or legacy .dat): importance-weighted quantizers, as llama-quantize --imatrix");
  cmd->add_option("--include-weights", o.include_weights, "Use the imatrix only for tensors whose name contains this (repeatable)");
  cmd->add_option("--exclude-weights", o.exclude_weights, "Do not use the imatrix for tensors whose name contains this (repeatable)");
  cmd->add_option("--output-tensor-type", o.output_tensor_type, "ggml type for output.weight (e.g. q8_0, f16)");
  cmd->add_option("--token-embedding-type", o.token_embedding_type, "ggml type for token_embd.weight");
  cmd->add_flag("--leave-output-tensor", o.leave_output_tensor, "Leave output.weight as stored");
  cmd->add_option("--tensor-type", o.tensor_types, "REGEX=TYPE: tensors whose name matches get TYPE, first match wins (repeatable), e.g. attn_v=q8_0");
  cmd->add_option("--tensor-type-file", flags->tensor_type_file, "A file of REGEX=TYPE entries separated by spaces or newlines");
  cmd->add_flag("--keep-split", o.keep_split, "Quantize a split input into the same shards");
  cmd->add_flag("--stats", o.stats, "Report per-tensor RMSE and max abs error and bytes before/after");
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: all cores; at most the core count is used)")
      ->check(CLI::Range(1u, 1024u));
  cmd->add_flag("--force", o.force, "Replace a non-empty output directory (nf4/fp4)");
  cmd->add_flag("--dry-run", o.dry_run, "Print each tensor's type choice and write nothing");
  cmd->add_flag("--no-progress", flags->no_progress, "No progress bar even on a terminal");
  cmd->add_flag("--json", flags->json, "Print the per-tensor plan (--dry-run) or the report as one JSON object");
  cmd->callback([flags, cmd] {
    auto options = flags->options;
    resolve_positional(flags->positional, options);
    if (!flags->split_max_size.empty()) {
      // llama.cpp's --split-max-size takes decimal M/G suffixes ("2G" = 2,000,000,000 bytes).
      std::string size = flags->split_max_size;
      if (size.ends_with("G") || size.ends_with("M") || size.ends_with("K")) size += "B";
      options.split.max_bytes = parse_shard_size(size);
    }
    options.progress = !flags->no_progress && progress_wanted();
    if (!flags->tensor_type_file.empty()) read_tensor_type_file(flags->tensor_type_file, options.tensor_types);
    const auto bnb = parse_bnb_type(options.type);
    if (bnb) {
      refuse_gguf_flags_for_bnb(options);
    } else {
      if (cmd->count("--blocksize")) throw CLI::ValidationError("--blocksize", "is the bitsandbytes block size; it does not apply to " + options.type);
      if (options.force) throw CLI::ValidationError("--force", "replaces a bitsandbytes output directory; a GGUF output is replaced atomically without it");
    }
    const QuantizeReport r = bnb ? quantize_hf_to_bnb(options, *bnb) : quantize_gguf_file(options);
    if (flags->json) {
      nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
      for (const auto& t : r.tensors) {
        nlohmann::ordered_json row = {{"name", t.name}, {"from", std::string(dtype_name(t.from))}, {"to", std::string(dtype_name(t.to))},
                                      {"bytes_before", t.bytes_before}, {"bytes_after", t.bytes_after}};
        if (options.stats) row["rmse"] = t.rmse, row["max_abs_error"] = t.max_abs;
        if (!options.imatrix.empty()) row["imatrix"] = t.importance;
        tensors.push_back(std::move(row));
      }
      const nlohmann::ordered_json j = {{"input", options.input}, {"output", options.output}, {"type", options.type}, {"dry_run", options.dry_run},
                                        {"outputs", r.outputs.empty() && !options.dry_run ? std::vector<std::string>{options.output} : r.outputs},
                                        {"tensors", tensors}, {"bytes_before", r.bytes_before}, {"bytes_after", r.bytes_after}, {"seconds", r.seconds},
                                        {"imatrix", options.imatrix.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(options.imatrix)},
                                        {"imatrix_entries", r.imatrix_entries}, {"notes", r.notes}};
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return;
    }
    if (options.stats || options.dry_run) {
      fmt::print("{:<40} {:>6} -> {:<6} {:>12} {:>12} {:>12} {:>12}\n", "tensor", "from", "to", "bytes before", "bytes after",
                 "rmse", "max abs err");
      for (const auto& t : r.tensors) {
        fmt::print("{:<40} {:>6} -> {:<6} {:>12} {:>12} {:>12.3e} {:>12.3e}\n", escape_for_display(t.name), dtype_name(t.from), dtype_name(t.to),
                   t.bytes_before, t.bytes_after, t.rmse, t.max_abs);
      }
    }
    for (const auto& note : r.notes) fmt::print(stderr, "note: {}\n", note);
    if (quiet_output()) return;
    if (!options.dry_run) {
      if (r.outputs.empty()) fmt::print("wrote {}\n", options.output);
      for (const auto& out : r.outputs) fmt::print("wrote {}\n", out);
    }
    fmt::print("{} tensors: {:.2f} MB -> {:.2f} MB ({:.1f}%) in {:.2f} s\n", r.tensors.size(), static_cast<double>(r.bytes_before) / 1e6,
               static_cast<double>(r.bytes_after) / 1e6,
               r.bytes_before ? 100.0 * static_cast<double>(r.bytes_after) / static_cast<double>(r.bytes_before) : 0.0, r.seconds);
  });
}

}  // namespace ckpt::cli
