#include "inspect/inspect.h"

#include "formats/ckpt_archive.h"

#include <filesystem>

#include "formats/error.h"
#include "formats/lfs_pointer.h"
#include "formats/mapped_file.h"
#include "inspect/inspect_internal.h"

namespace ckpt {

uint64_t InspectReport::total_parameters() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += shape_numel(t.info.shape).value_or(0);
  return n;
}

uint64_t InspectReport::total_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors) n += t.info.n_bytes;
  return n;
}

std::map<std::string, DTypeTotals> InspectReport::totals_by_dtype() const {
  std::map<std::string, DTypeTotals> totals;
  for (const auto& t : tensors) {
    auto& d = totals[tensor_type_name(t.info)];
    d.tensors += 1;
    d.parameters += shape_numel(t.info.shape).value_or(0);
    d.bytes += t.info.n_bytes;
  }
  return totals;
}

InspectReport inspect_path(const std::string& path, const InspectOptions& options) {
  InspectReport report;
  report.path = path;
  report.kind = detect_file_kind(path);
  namespace fs = std::filesystem;
  switch (report.kind) {
    case FileKind::Gguf: inspect_gguf(path, options, report); break;
    case FileKind::Safetensors: inspect_safetensors(path, report); break;
    case FileKind::SafetensorsIndex:
      if (path.ends_with(".bin.index.json")) {
        inspect_model_source(path, report);
      } else {
        inspect_safetensors_index(path, report);
      }
      break;
    case FileKind::HfDirectory: {
      // Safetensors checkpoints keep their format-specific view (header size, shard totals); .bin
      // directories and adapters go through the model-source layer like every other command.
      const fs::path d(path);
      const bool safetensors = !fs::exists(d / "adapter_config.json") &&
                               (fs::exists(d / "model.safetensors") || fs::exists(d / "model.safetensors.index.json") ||
                                (!fs::exists(d / "pytorch_model.bin") && !fs::exists(d / "pytorch_model.bin.index.json")));
      if (safetensors) {
        inspect_hf_directory(path, report);
      } else {
        inspect_model_source(path, report);
      }
      break;
    }
    case FileKind::LfsPointer: {
      const auto file = MappedFile::open(path);
      throw_if_lfs_pointer(file->bytes(), path);
      break;
    }
    case FileKind::Unknown:
      if (is_ckpt_archive_path(path)) {
        inspect_archive(path, report);
        break;
      }
      inspect_model_source(path, report);  // .bin (torch ZIP or llama2.c), or an error naming what it is not
      break;
  }
  return report;
}

}  // namespace ckpt
