// inspect for .ckpt archives: origin, sections (kind, sizes, compression), provenance, adapters and
// their base binding, manifest and signature state, and the tensor table.
#include <fmt/format.h>

#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_adapters.h"
#include "inspect/inspect_internal.h"

namespace ckpt {

void inspect_archive(const std::string& path, InspectReport& report) {
  const CkptArchive a = read_ckpt_archive(path);
  report.kind_name = "ckpt-archive";
  report.format = fmt::format("ckpt archive v{}.{}", a.major, a.minor);
  report.files = {path};
  report.properties = {{"origin", a.origin},
                       {"alignment", std::to_string(kCkptAlignment)},
                       {"index", fmt::format("{} bytes at offset {}", a.index_length, a.index_offset)},
                       {"manifest sha256", to_hex(a.manifest)},
                       {"signature", a.signature_offset ? fmt::format("{} bytes at offset {} (check with ckpt verify)", a.signature_length, a.signature_offset)
                                                        : std::string("none (unsigned)")}};
  for (const auto& s : a.sections) {
    MetadataRow row;
    row.key = "section " + s.name;
    row.type = s.kind;
    row.display = fmt::format("{} bytes{}{}", s.size, s.zlib ? fmt::format(" (zlib, {} stored)", s.length) : std::string(),
                              s.known_kind() ? "" : " (unknown kind: kept, not read)");
    row.json = {{"kind", s.kind}, {"size", s.size}, {"stored", s.length}, {"compression", s.zlib ? "zlib" : "none"}, {"offset", s.offset}};
    row.offset_in_file = s.offset;
    report.metadata.push_back(std::move(row));
  }
  if (const CkptSection* p = a.find_section("provenance")) {
    MetadataRow row;
    row.key = "provenance";
    row.type = "json";
    const auto bytes = a.section_bytes(*p);
    try {
      row.json = nlohmann::ordered_json::parse(reinterpret_cast<const char*>(bytes.data()), reinterpret_cast<const char*>(bytes.data()) + bytes.size());
      row.display = row.json.dump();
    } catch (const nlohmann::json::exception&) {
      row.display = "(not JSON)";
    }
    report.metadata.push_back(std::move(row));
  }
  for (const auto& x : ckpt_archive_adapters(a)) {
    const size_t changed = ckpt_binding_differences(x.base, a).size();
    MetadataRow row;
    row.key = "adapter " + x.name;
    row.type = x.format;
    row.display = fmt::format("{} r={} alpha={:g}, {} parameters, targets {}; bound to {} base tensors (digest {}){}", x.peft_type, x.r, x.lora_alpha, x.parameters,
                              fmt::join(x.target_modules, ","), x.base.tensors.size(), to_hex(x.base.digest()),
                              changed ? fmt::format(": {} differ, built for a different base", changed) : std::string());
    row.json = {{"format", x.format}, {"peft_type", x.peft_type}, {"r", x.r}, {"lora_alpha", x.lora_alpha}, {"parameters", x.parameters},
                {"target_modules", x.target_modules}, {"base_digest", to_hex(x.base.digest())}, {"bound_tensors", x.base.tensors.size()},
                {"bound_to_this_base", changed == 0}};
    row.offset_in_file = x.offset;
    report.metadata.push_back(std::move(row));
  }
  for (const auto& t : a.tensors) {
    TensorRow row;
    row.info.name = t.name;
    row.info.dtype = t.dtype;
    row.info.shape = t.shape;
    row.info.offset_in_file = t.offset;
    row.info.n_bytes = t.length;
    row.file = path;
    report.tensors.push_back(std::move(row));
  }
}

}  // namespace ckpt
