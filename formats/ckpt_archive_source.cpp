#include "formats/output_guard.h"
#include "formats/ckpt_archive_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/error.h"
#include "formats/gguf.h"
#include "formats/parallel.h"
#include "formats/signal_cleanup.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

std::string unpack_destination() {
  const char* tmp = std::getenv("TMPDIR");
  return (fs::path(tmp && *tmp ? tmp : "/tmp") / "ckpt-archive").string();
}

// The GGUF the archive was made from: its metadata section's KVs, its tensors where the archive holds them.
GgufSet gguf_view_of(const CkptArchive& a, const std::string& path) {
  const CkptSection* meta = a.find_section("gguf-metadata");
  if (!meta) throw Error(ErrorCode::NotFound, path, a.index_offset, "gguf-metadata", "an archive of origin 'gguf' without its GGUF metadata section");
  const GgufFile header = read_gguf(MappedFile::from_bytes(path + ":gguf-metadata", a.section_bytes(*meta)));
  GgufSet set;
  GgufFile g;
  g.file = a.file;
  g.version = header.version;
  g.kvs = header.kvs;
  g.data_offset = 0;  // offsets below are the archive's own
  g.alignment = static_cast<uint32_t>(kCkptAlignment);
  for (const CkptTensor* p : a.tensors_in_source_order()) {
    const CkptTensor& t = *p;
    GgufTensorInfo info;
    info.name = t.name;
    info.ne.assign(t.shape.rbegin(), t.shape.rend());
    info.dtype = t.dtype;
    info.offset_in_data = t.offset;
    info.n_bytes = t.length;
    info.info_offset_in_file = a.index_offset;
    g.tensors.push_back(std::move(info));
  }
  set.shards.push_back(std::move(g));
  for (const auto& info : set.shards.front().tensors) set.tensors.push_back({&set.shards.front(), &info});
  return set;
}

}  // namespace

std::vector<CkptInputSection> ckpt_gguf_sections(const std::vector<GgufKv>& kvs, const std::vector<std::string>& tensor_order) {
  std::vector<GgufKv> whole;
  for (const auto& kv : kvs) {
    if (!kv.key.starts_with("split.")) whole.push_back(kv);
  }
  BufferSink meta("gguf-metadata");
  write_gguf(meta, whole, {});
  return {{"gguf-metadata", "gguf-metadata", meta.take(), true}, CkptInputSection::text("tensor-order", "tensor-order", nlohmann::json(tensor_order).dump())};
}

std::vector<std::string> ckpt_side_files(const ModelSource& src) {
  std::vector<std::string> files;
  if (src.config_path) files.push_back(*src.config_path);
  for (const auto& f : src.side_files) {
    if (!f.ends_with(".safetensors") && !f.ends_with(".bin")) files.push_back(f);
  }
  return files;
}

std::string ckpt_provenance(const ModelSource& src, const std::string& input, const std::string& command, const nlohmann::ordered_json& options) {
  std::vector<std::string> read = ckpt_side_files(src);
  read.insert(read.end(), src.weight_files.begin(), src.weight_files.end());
  std::vector<std::pair<uint64_t, std::string>> digests(read.size());
  parallel_each(read.size(), default_thread_count(), [&](size_t i) {
    const auto m = MappedFile::open(read[i]);
    digests[i] = {m->size(), to_hex(sha256(m->bytes()))};
  });
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (size_t i = 0; i < read.size(); ++i) files.push_back({{"name", fs::path(read[i]).filename().string()}, {"bytes", digests[i].first}, {"sha256", digests[i].second}});
  // The source's own name (a model directory's name is what llama.cpp writes as general.name).
  const std::string name = src.model_name.empty() ? path_name(input) : src.model_name;
  nlohmann::ordered_json opts = {{"command", command}};
  for (const auto& [k, v] : options.items()) opts[k] = v;
  const nlohmann::ordered_json j = {{"tool", "ckpt"},         {"tool_version", CKPT_ARCHIVE_TOOL_VERSION},
                                    {"source_kind", std::string(source_kind_name(src.kind))}, {"source_name", name},
                                    {"source_format", src.format}, {"source_files", files}, {"options", opts}};
  return j.dump(2);
}

ArchiveUnpackDir::ArchiveUnpackDir() {
  const std::string destination = unpack_destination();
  remove_stale_temporaries(destination);
  path_ = temporary_prefix(destination, true) + std::to_string(::getpid()) + "-XXXXXX";
  if (!::mkdtemp(path_.data())) {
    throw Error(ErrorCode::Io, fs::path(destination).parent_path().string(), Error::kNoOffset, "TMPDIR",
                std::string("cannot create a directory for the archive's side files: ") + std::strerror(errno));
  }
  slot_ = register_temporary(path_, TempKind::Directory);
}

ArchiveUnpackDir::~ArchiveUnpackDir() {
  unregister_temporary(slot_);
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string ArchiveUnpackDir::write(const std::string& name, std::span<const std::byte> bytes, const std::string& archive) const {
  if (!is_plain_file_name(name)) throw Error(ErrorCode::BadPath, archive, Error::kNoOffset, "section '" + name + "'", "a file section's name must be a plain file name");
  const std::string out = (fs::path(path_) / name).string();
  write_text_file(out, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  return out;
}

std::shared_ptr<const GgufSet> open_archive_gguf(const std::string& path) {
  const CkptArchive a = read_ckpt_archive(path);
  if (a.origin != "gguf") return nullptr;
  return std::make_shared<GgufSet>(gguf_view_of(a, path));  // its GgufFile holds the archive's map
}

ModelSource open_archive_source(const std::string& path) {
  auto archive = std::make_shared<CkptArchive>(read_ckpt_archive(path));
  const CkptArchive& a = *archive;
  ModelSource out;
  out.path = path;
  out.weight_files = {path};
  out.model_name = fs::path(path).stem().string();
  if (const std::string provenance = a.section_text("provenance"); !provenance.empty()) {
    const auto j = nlohmann::json::parse(provenance, nullptr, false);
    if (j.is_object() && j.contains("source_name") && j["source_name"].is_string() && !j["source_name"].get<std::string>().empty()) {
      out.model_name = j["source_name"].get<std::string>();
    }
  }
  out.format = "ckpt archive v" + std::to_string(a.major) + "." + std::to_string(a.minor) + " (from " + a.origin + ")";
  if (a.origin == "gguf") {
    out.kind = SourceKind::Gguf;
    out.dir = fs::path(path).parent_path().string();
    out.gguf = gguf_view_of(a, path);
    out.keep_alive = archive;
  } else if (a.origin == "hf-checkpoint" || a.origin == "safetensors" || a.origin == "torch-bin") {
    out.kind = a.origin == "hf-checkpoint" ? SourceKind::HfCheckpoint : a.origin == "safetensors" ? SourceKind::Safetensors : SourceKind::TorchBin;
    auto dir = std::make_shared<ArchiveUnpackDir>();
    out.dir = dir->path();
    for (const auto& s : a.sections) {
      if (s.kind != "file") continue;
      const std::string written = dir->write(s.name, a.section_bytes(s), path);
      if (s.name == "config.json") {
        out.config_path = written;
      } else {
        out.side_files.push_back(written);
      }
    }
    out.keep_alive = std::make_shared<std::pair<std::shared_ptr<CkptArchive>, std::shared_ptr<ArchiveUnpackDir>>>(archive, dir);
  } else {
    throw Error(ErrorCode::Unsupported, path, a.index_offset, "origin",
                "an archive made from a '" + a.origin + "' file holds no model ckpt can open directly; convert the original again");
  }
  for (const CkptTensor* t : a.tensors_in_source_order()) out.all_tensors.push_back({t->name, t->dtype, t->shape, t->data, a.file, {}, t->dtype, ""});
  return out;
}

}  // namespace ckpt
