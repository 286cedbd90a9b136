// A .ckpt archive opened as the model it holds, so every command that takes a model takes an archive:
// tensors are viewed in place in the archive's map (no copy; 4096-aligned, so the runtime's kernels
// read them as they read a GGUF's), each checked against nothing more than the index on open (`ckpt
// verify` hashes them). An archive made from a GGUF is a GGUF whose data section is the archive; one
// made from an HF checkpoint is that checkpoint, its side files (config.json, tokenizer files) unpacked
// into a private temporary directory that goes with the source, on a signal, or (after kill -9) with
// the next run that opens an archive.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/ckpt_archive.h"
#include "formats/gguf.h"
#include "formats/model_source.h"

namespace ckpt {

// The archive at `path` as a ModelSource of the kind it was made from (origin "gguf" -> Gguf with
// `gguf` set; "hf-checkpoint", "safetensors", "torch-bin" -> that kind). Throws Error naming the archive
// for origins that cannot be read back as a model (llama2.c: convert it again from the .bin).
ModelSource open_archive_source(const std::string& path);

// The GGUF a GGUF-made archive holds, its tensors viewed in the archive's map (which the result keeps
// alive); nullptr for an archive of another origin, so the caller can say what to do instead.
std::shared_ptr<const GgufSet> open_archive_gguf(const std::string& path);

// The sections that let an archive give back the GGUF it holds: "gguf-metadata" (the KVs as a GGUF
// without tensors, split.* dropped: the archive is whole) and "tensor-order" (the GGUF's tensor order).
std::vector<CkptInputSection> ckpt_gguf_sections(const std::vector<GgufKv>& kvs, const std::vector<std::string>& tensor_order);

// The files beside the weights an archive keeps as "file" sections: config.json first, then the
// tokenizer and generation files (never weight files: the archive holds the tensors themselves).
std::vector<std::string> ckpt_side_files(const ModelSource& src);

// The "provenance" section's JSON for an archive made from `src` (opened from `input`) by `command`: the
// tool and version, the source's kind, name and format, every file read with its size and SHA-256
// (hashed on all cores), and `options`. No paths or times, so the same input gives the same bytes.
std::string ckpt_provenance(const ModelSource& src, const std::string& input, const std::string& command, const nlohmann::ordered_json& options);

// A private temporary directory (0700) under $TMPDIR (or /tmp), removed with the object, on SIGINT /
// SIGTERM / SIGHUP, or by the next process that creates one after this one died.
class ArchiveUnpackDir {
 public:
  ArchiveUnpackDir();
  ~ArchiveUnpackDir();
  ArchiveUnpackDir(const ArchiveUnpackDir&) = delete;
  ArchiveUnpackDir& operator=(const ArchiveUnpackDir&) = delete;
  const std::string& path() const { return path_; }
  // Writes `bytes` as `name` (a plain file name: no '/', not "." or "..") inside the directory.
  std::string write(const std::string& name, std::span<const std::byte> bytes, const std::string& archive) const;

 private:
  std::string path_;
  int slot_ = -1;
};

}  // namespace ckpt
