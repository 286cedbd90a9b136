// `ckpt adapter add / rm / extract`: LoRA adapters stored inside a .ckpt archive, bound to the base
// tensors they modify (formats/ckpt_archive_adapters.h). Adding plans the merge of the adapter into
// the archive's model (the same name mapping and shape checks `ckpt merge` makes), so an adapter that
// does not fit is refused before anything is written, and the plan names the base tensors to bind.
#include <filesystem>
#include <set>

#include "convert/ckpt_archive_convert.h"
#include "convert/merge_plan.h"
#include "formats/byte_sink.h"
#include "formats/ckpt_archive_adapters.h"
#include "formats/ckpt_archive_source.h"
#include "formats/error.h"
#include "formats/output_guard.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

std::vector<std::byte> file_bytes(const std::string& path) {
  const auto m = MappedFile::open(path);
  return {m->bytes().begin(), m->bytes().end()};
}

// The adapter's files as they will be stored, read from a PEFT directory, a GGUF LoRA or an archive.
struct StagedAdapter {
  std::vector<std::pair<std::string, std::vector<std::byte>>> files;
  std::string format;
  std::string default_name;
  std::optional<CkptAdapterBinding> binding;  // the base an archive's adapter was bound to
};

StagedAdapter stage_adapter(const std::string& archive, const std::string& spec) {
  StagedAdapter s;
  if (const auto ref = resolve_ckpt_adapter_spec(archive, spec)) {
    const CkptArchive a = read_ckpt_archive(ref->archive);
    const auto adapters = ckpt_archive_adapters(a);
    const CkptAdapter* x = &ckpt_adapter_named(a, adapters, ref->name);
    for (const auto& f : x->files) s.files.emplace_back(f, a.section_bytes(*a.find_section(ckpt_adapter_section(x->name) + "/" + f)));
    s.format = x->format;
    s.default_name = x->name;
    s.binding = x->base;
    return s;
  }
  if (fs::is_directory(spec)) {
    s.format = "peft";
    const fs::path d(spec);
    if (!fs::exists(d / "adapter_config.json")) throw Error(ErrorCode::NotFound, spec, Error::kNoOffset, "adapter_config.json", "not a PEFT adapter directory");
    s.files.emplace_back("adapter_config.json", file_bytes((d / "adapter_config.json").string()));
    for (const char* weights : {"adapter_model.safetensors", "adapter_model.bin"}) {
      if (fs::exists(d / weights)) {
        s.files.emplace_back(weights, file_bytes((d / weights).string()));
        break;
      }
    }
    s.default_name = path_name(spec);
    return s;
  }
  s.format = "gguf-lora";
  s.files.emplace_back("adapter.gguf", file_bytes(spec));
  s.default_name = fs::path(spec).stem().string();
  return s;
}

}  // namespace

ArchiveAdapterReport add_archive_adapter(const ArchiveAdapterOptions& o) {
  const std::string output = o.output.empty() ? o.archive : o.output;
  if (!o.output.empty()) check_output_path(o.output, {o.archive, o.adapter}, false);
  const CkptArchive a = read_ckpt_archive(o.archive);
  const auto existing = ckpt_archive_adapters(a);
  StagedAdapter staged = stage_adapter(o.archive, o.adapter);
  ArchiveAdapterReport report;
  report.name = o.name.empty() ? staged.default_name : o.name;
  if (!valid_ckpt_adapter_name(report.name)) {
    throw Error(ErrorCode::InvalidArgument, o.adapter, Error::kNoOffset, "--name", "'" + report.name + "' is not a valid adapter name (1-128 of A-Z a-z 0-9 . _ -)");
  }
  const CkptAdapter* same = find_ckpt_adapter(existing, report.name);
  if (same && !o.replace) {
    throw Error(ErrorCode::DuplicateName, o.archive, same->offset, "adapter '" + report.name + "'", "the archive already holds an adapter of this name (--replace to replace it)");
  }
  // Plan the merge into this archive's model from the staged files: it maps every module to a base
  // tensor and refuses what does not fit, as `ckpt merge` would.
  ArchiveUnpackDir dir;
  for (const auto& [name, bytes] : staged.files) dir.write(name, bytes, o.adapter);
  MergeOptions m;
  m.base = o.archive;
  m.adapters = {{staged.format == "gguf-lora" ? (fs::path(dir.path()) / "adapter.gguf").string() : dir.path(), 1.0}};
  const MergeInputs in = open_merge_inputs(m);
  const MergePlan plan = plan_merge(in, m);
  std::set<std::string> bound;
  for (const auto& r : plan.recipes) {
    if (r.base && a.find_tensor(r.base->name)) bound.insert(r.base->name);
  }
  CkptAdapter x;
  x.name = report.name;
  x.format = staged.format;
  for (const auto& name : bound) x.base.tensors.emplace_back(name, a.find_tensor(name)->sha256);
  const LoraAdapter& ad = *in.adapters.front();
  x.peft_type = ad.info.peft_type;
  x.r = ad.info.r;
  x.lora_alpha = ad.info.lora_alpha;
  x.target_modules = ad.info.target_modules;
  x.parameters = ad.n_parameters;
  if (staged.binding && staged.binding->digest() != x.base.digest()) {
    if (!o.force) {
      throw Error(ErrorCode::BadChecksum, o.adapter, Error::kNoOffset, "adapter '" + staged.default_name + "'",
                  "adapter built for a different base: its bound tensors differ from " + o.archive + "'s (--force binds it to this base anyway)");
    }
    report.rebound = true;
  }
  report.format = x.format;
  report.bound_tensors = x.base.tensors.size();
  report.digest = to_hex(x.base.digest());
  report.parameters = x.parameters;
  for (const auto& f : staged.files) report.bytes += f.second.size();
  report.signature_dropped = a.signature_offset != 0;
  if (o.dry_run) return report;
  std::vector<std::string> remove;
  if (same) {
    remove.push_back(ckpt_adapter_section(same->name));
    for (const auto& f : same->files) remove.push_back(ckpt_adapter_section(same->name) + "/" + f);
  }
  update_ckpt_archive(o.archive, output, ckpt_adapter_sections(x, std::move(staged.files)), remove);
  report.outputs.push_back(output);
  return report;
}

ArchiveAdapterReport remove_archive_adapter(const std::string& archive, const std::string& name, const std::string& output_path) {
  const std::string output = output_path.empty() ? archive : output_path;
  if (!output_path.empty()) check_output_path(output_path, {archive}, false);
  const CkptArchive a = read_ckpt_archive(archive);
  const auto adapters = ckpt_archive_adapters(a);
  const CkptAdapter* x = &ckpt_adapter_named(a, adapters, name);
  std::vector<std::string> remove = {ckpt_adapter_section(name)};
  for (const auto& f : x->files) remove.push_back(ckpt_adapter_section(name) + "/" + f);
  ArchiveAdapterReport report;
  report.name = name;
  report.format = x->format;
  report.bytes = x->bytes;
  report.signature_dropped = a.signature_offset != 0;
  update_ckpt_archive(archive, output, {}, remove);
  report.outputs.push_back(output);
  return report;
}

std::vector<std::string> extract_archive_adapter(const std::string& archive, const std::string& name, const std::string& output, bool force) {
  const CkptArchive a = read_ckpt_archive(archive);
  const auto adapters = ckpt_archive_adapters(a);
  const CkptAdapter* x = &ckpt_adapter_named(a, adapters, name);
  std::vector<std::string> written;
  if (x->format == "gguf-lora") {  // one file: OUTPUT is the .gguf
    check_output_path(output, {archive}, false);
    const auto bytes = a.section_bytes(*a.find_section(ckpt_adapter_section(name) + "/" + x->files.front()));
    write_text_file(output, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    return {output};
  }
  check_output_path(output, {archive}, true);
  StagingDir stage(output, force);
  for (const auto& f : x->files) {
    const auto bytes = a.section_bytes(*a.find_section(ckpt_adapter_section(name) + "/" + f));
    write_text_file((fs::path(stage.path()) / f).string(), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    written.push_back(stage.final_path(f));
  }
  stage.commit();
  return written;
}

}  // namespace ckpt
