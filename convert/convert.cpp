// Dispatch by input kind, and the shared GGUF writing step (single file or split set).
#include "convert/convert.h"
#include "convert/ckpt_archive_convert.h"
#include "formats/ckpt_archive.h"

#include <cctype>
#include <chrono>
#include <filesystem>

#include "convert/convert_internal.h"
#include "formats/parallel.h"
#include "formats/detect.h"
#include "formats/json_header.h"
#include "formats/output_guard.h"
#include "formats/rewrite.h"

namespace ckpt {

namespace fs = std::filesystem;

std::string outtype_name(DType t) {
  std::string name(dtype_name(t));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string resolve_output_name(const std::string& output, const std::string& outtype) {
  std::string out = output;
  for (const std::string field : {"{ftype}", "{outtype}"}) {
    for (size_t at = out.find(field); at != std::string::npos; at = out.find(field, at + outtype.size())) out.replace(at, field.size(), outtype);
  }
  return out;
}

ConvertReport write_gguf_conversion(const GgufConversion& plan, const ConvertOptions& options, std::string provenance) {
  const auto start = std::chrono::steady_clock::now();
  ConvertReport report;
  report.architecture = plan.architecture;
  report.outtype = outtype_name(plan.outtype);
  const std::string output = resolve_output_name(options.output, report.outtype);
  if (output != options.output) check_output_path(output, {options.input, options.llama2c_vocab, options.base}, false);
  const unsigned threads = bounded_thread_count(options.threads);
  uint64_t bytes_in = 0;
  for (const auto& job : plan.jobs) {
    bytes_in += job.source->data.size();
    report.tensors.push_back({job.source->name, job.out_name, std::string(dtype_name(job.out_dtype)), std::vector<uint64_t>(job.ne.rbegin(), job.ne.rend())});
  }
  report.bytes_in = bytes_in;
  if (options.dry_run) return report;
  ProgressBar progress("convert", bytes_in, options.progress);
  RewritePlan rewrite;
  rewrite.gguf_kvs = plan.kvs;
  rewrite.provenance = std::move(provenance);
  F16Overflow overflow;
  overflow.allow = options.allow_overflow;
  for (const auto& job : plan.jobs) {
    rewrite.tensors.push_back({job.out_name, job.out_dtype, std::vector<uint64_t>(job.ne.rbegin(), job.ne.rend()),
                               make_tensor_writer(job, threads, &progress, &overflow)});
  }
  report.outputs = write_rewrite(std::move(rewrite), RewriteTarget::gguf(output, options.split));
  report.f16_overflow = std::move(overflow.tensors);
  progress.finish();
  for (const auto& out : report.outputs) report.bytes_out += fs::file_size(out);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

namespace {

// No option is accepted and then ignored: one that does not apply to this conversion is refused.
void refuse_inapplicable(const ConvertOptions& o, FileKind kind) {
  auto refuse = [](const char* flag, const std::string& why) { throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, flag, why); };
  const bool to_directory = o.to == "hf" || o.to == "peft";
  if (o.force && !to_directory) refuse("--force", "replaces an output directory; it applies to --to hf / --to peft only");
  if (!o.llama2c_vocab.empty() && (o.to != "gguf" || kind == FileKind::HfDirectory || kind == FileKind::Gguf)) {
    refuse("--llama2c-vocab", "applies to llama2.c .bin checkpoints converted to GGUF");
  }
  if (o.split.enabled() && o.to != "gguf") refuse("--split-max-*", "splits GGUF output only");
  if (o.allow_overflow && (to_directory || o.outtype == "f32" || o.outtype == "bf16" || o.outtype == "q8_0")) {
    refuse("--allow-overflow", "applies when narrowing to f16 (--outtype f16 or auto)");
  }
}

}  // namespace

ConvertReport convert(const ConvertOptions& options) {
  if (options.input.empty()) throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "input", "no input given");
  refuse_inapplicable(options, std::filesystem::exists(options.input) ? detect_file_kind(options.input) : FileKind::Unknown);
  if (options.output.empty()) throw Error(ErrorCode::InvalidArgument, options.input, Error::kNoOffset, "-o", "no output given");
  // Refused before anything is read or written: an output that is (or would replace) an input.
  check_output_path(options.output, {options.input, options.llama2c_vocab, options.base}, options.to == "hf" || options.to == "peft");
  if (options.to == "peft") return convert_gguf_adapter_to_peft(options);
  // The native archive: into it (--to ckpt or an output named *.ckpt), and out of it.
  if (options.to == "ckpt" || (options.to == "gguf" && is_ckpt_archive_output(options.output))) {
    // Without --outtype the model is archived as stored; with it, converted as for GGUF (names mapped,
    // that type) and kept as a GGUF-made archive.
    if (options.outtype.empty()) return convert_to_archive(options);
    if (!is_ckpt_archive_output(options.output)) {
      throw Error(ErrorCode::InvalidArgument, options.output, Error::kNoOffset, "-o", "name the converted archive *.ckpt");
    }
    if (detect_file_kind(options.input) == FileKind::Gguf || (is_ckpt_archive_path(options.input) && read_ckpt_archive(options.input).origin == "gguf")) {
      throw Error(ErrorCode::InvalidArgument, options.input, Error::kNoOffset, "--outtype",
                  "converts HF checkpoints; a GGUF changes type with ckpt quantize " + options.input + " -o " + options.output + " --type TYPE");
    }
    return convert_hf_to_gguf(options);
  }
  if (is_ckpt_archive_path(options.input)) return convert_from_archive(options);
  // A PEFT adapter directory becomes a llama.cpp GGUF LoRA.
  if (options.to == "gguf" && std::filesystem::exists(std::filesystem::path(options.input) / "adapter_config.json")) {
    return convert_adapter_to_gguf(options);
  }
  if (options.to == "hf") return convert_gguf_to_hf(options);
  if (options.to != "gguf") {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--to", "'" + options.to + "' is not gguf, hf or peft");
  }
  const FileKind kind = detect_file_kind(options.input);
  if (kind == FileKind::HfDirectory) return convert_hf_to_gguf(options);
  if (kind == FileKind::LfsPointer) {
    throw Error(ErrorCode::LfsPointer, options.input, 0, "file", "this is a Git LFS pointer; run `git lfs pull`");
  }
  if (!options.llama2c_vocab.empty() || options.input.ends_with(".bin")) return convert_llama2c_to_gguf(options);
  throw Error(ErrorCode::InvalidArgument, options.input, Error::kNoOffset, "input",
              "expected an HF model directory, a llama2.c .bin (with --llama2c-vocab), or a GGUF with --to hf");
}

}  // namespace ckpt
