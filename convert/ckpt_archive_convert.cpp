// Models into and out of ckpt's native archive (formats/ckpt_archive.h), losslessly: an archive keeps
// every stored tensor as it was (bitsandbytes codes and their quantization state, GGUF block types)
// and the files and metadata around it, so going back gives the same tensor bytes.
#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "convert/ckpt_archive_convert.h"
#include "convert/convert_internal.h"
#include "formats/output_guard.h"
#include "formats/byte_sink.h"
#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_source.h"
#include "formats/error.h"
#include "formats/gguf.h"
#include "formats/model_source.h"
#include "formats/parallel.h"
#include "formats/rewrite.h"
#include "formats/sha256.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;

// An archive into an archive: the same tensors and sections, rewritten canonically (an archive from
// an older writer, or one with adapters removed, comes out as this writer makes it).
ConvertReport rearchive(const ConvertOptions& options) {
  const CkptArchive a = read_ckpt_archive(options.input);
  ConvertReport report;
  report.architecture = a.origin;
  std::vector<CkptInputTensor> tensors;
  for (const auto& t : a.tensors) {
    tensors.push_back({t.name, t.dtype, t.shape, t.data});
    report.tensors.push_back({t.name, t.name, std::string(dtype_name(t.dtype)), t.shape});
    report.bytes_in += t.length;
  }
  std::vector<CkptInputSection> sections;
  for (const auto& s : a.sections) sections.push_back({s.name, s.kind, a.section_bytes(s), s.zlib});
  if (options.dry_run) return report;
  write_ckpt_archive(options.output, a.origin, std::move(tensors), std::move(sections), bounded_thread_count(options.threads));
  report.outputs.push_back(options.output);
  report.bytes_out = fs::file_size(options.output);
  return report;
}

}  // namespace

ConvertReport convert_to_archive(const ConvertOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (is_ckpt_archive_path(options.input)) return rearchive(options);
  const ModelSource src = open_model_source(options.input);
  if (src.kind == SourceKind::PeftAdapter || src.kind == SourceKind::GgufAdapter) {
    throw Error(ErrorCode::Unsupported, options.input, Error::kNoOffset, "input", "an adapter goes into an archive with its base: ckpt adapter add");
  }
  ConvertReport report;
  report.architecture = std::string(source_kind_name(src.kind));
  std::vector<CkptInputTensor> tensors;
  for (const auto& t : src.all_tensors) {
    if (t.data.empty() && t.decode) {
      throw Error(ErrorCode::Unsupported, t.file ? t.file->path() : options.input, Error::kNoOffset, "tensor '" + t.name + "'", "has no stored bytes to archive");
    }
    tensors.push_back({t.name, t.dtype, t.shape, t.data});
    report.bytes_in += t.data.size();
    report.tensors.push_back({t.name, t.name, std::string(dtype_name(t.dtype)), t.shape});
  }
  std::vector<CkptInputSection> sections;
  for (const auto& f : ckpt_side_files(src)) sections.push_back(CkptInputSection::file(fs::path(f).filename().string(), "file", f, true));
  if (src.gguf) {
    std::vector<std::string> order;
    for (const auto& t : src.all_tensors) order.push_back(t.name);
    for (auto& s : ckpt_gguf_sections(src.gguf->main().kvs, order)) sections.push_back(std::move(s));
  }
  if (options.dry_run) return report;
  sections.push_back(CkptInputSection::text("provenance", "provenance", ckpt_provenance(src, options.input, "convert", nlohmann::ordered_json::object())));
  write_ckpt_archive(options.output, report.architecture, std::move(tensors), std::move(sections), bounded_thread_count(options.threads));
  report.outputs.push_back(options.output);
  report.bytes_out = fs::file_size(options.output);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

ConvertReport convert_from_archive(const ConvertOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const CkptArchive a = read_ckpt_archive(options.input);
  // An archive of an HF checkpoint goes to GGUF as that checkpoint would (names mapped, Q/K permuted,
  // tokenizer converted), in one step.
  if (options.to == "gguf" && !a.find_section("gguf-metadata")) return convert_hf_to_gguf(options);
  // An archive of a GGUF goes to HF as that GGUF would (names mapped back, Q/K unpermuted, config.json
  // and tokenizer files written, block types dequantized).
  if (options.to == "hf" && a.find_section("gguf-metadata")) return convert_gguf_to_hf(options);
  ConvertReport report;
  report.architecture = a.origin;
  RewritePlan plan;
  for (const CkptTensor* p : a.tensors_in_source_order()) {
    const CkptTensor& t = *p;
    plan.tensors.push_back({t.name, t.dtype, t.shape, write_bytes_from(t.data)});
    report.tensors.push_back({t.name, t.name, std::string(dtype_name(t.dtype)), t.shape});
    report.bytes_in += t.length;
  }
  if (options.dry_run) return report;
  if (options.to == "gguf") {
    const CkptSection* meta = a.find_section("gguf-metadata");
    const auto bytes = a.section_bytes(*meta);
    const GgufFile g = read_gguf(MappedFile::from_bytes(options.input + ":gguf-metadata", bytes));
    plan.gguf_kvs = g.kvs;
    report.outputs = write_rewrite(std::move(plan), RewriteTarget::gguf(options.output, options.split));
  } else {
    for (const auto& t : a.tensors) {
      if (dtype_info(t.dtype).safetensors_name.empty()) {
        throw Error(ErrorCode::Unsupported, options.input, t.offset, "tensor '" + t.name + "'",
                    std::string(dtype_name(t.dtype)) + " has no safetensors form; convert the archive to GGUF instead");
      }
    }
    plan.safetensors_metadata = {{"format", "pt"}};
    for (const auto& s : a.sections) {
      if (s.kind != "file") continue;
      if (!is_plain_file_name(s.name)) {
        throw Error(ErrorCode::BadPath, options.input, s.offset, "section '" + s.name + "'", "a file section's name must be a plain file name");
      }
      plan.side_files.push_back([&a, &s](const std::string& dir) {
        const auto b = a.section_bytes(s);
        write_text_file((fs::path(dir) / s.name).string(), std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
      });
    }
    report.outputs = write_rewrite(std::move(plan), RewriteTarget::hf_directory(options.output, options.split.max_bytes, options.force));
  }
  for (const auto& out : report.outputs) report.bytes_out += fs::file_size(out);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ckpt
