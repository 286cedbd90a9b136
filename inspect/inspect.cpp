#include "inspect/inspect.h"

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
    auto& d = totals[std::string(dtype_name(t.info.dtype))];
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
  switch (report.kind) {
    case FileKind::Gguf: inspect_gguf(path, options, report); break;
    case FileKind::Safetensors: inspect_safetensors(path, report); break;
    case FileKind::SafetensorsIndex: inspect_safetensors_index(path, report); break;
    case FileKind::HfDirectory: inspect_hf_directory(path, report); break;
    case FileKind::LfsPointer: {
      const auto file = MappedFile::open(path);
      throw_if_lfs_pointer(file->bytes(), path);
      break;
    }
    case FileKind::Unknown:
      throw Error(ErrorCode::BadMagic, path, 0, "magic",
                  "not a GGUF, safetensors, safetensors index or HF checkpoint directory");
  }
  return report;
}

}  // namespace ckpt
