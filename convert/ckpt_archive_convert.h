// `ckpt convert` into and out of .ckpt archives (formats/ckpt_archive.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "convert/convert.h"

namespace ckpt {

// Any model ckpt reads -> OUTPUT.ckpt: stored tensors as they are, side files, GGUF metadata, provenance.
ConvertReport convert_to_archive(const ConvertOptions& options);
// OUTPUT from an archive: what its source would give. HF-made archives go --to hf as the same files
// and to GGUF as their directory converts; GGUF-made ones go to GGUF as the same file and --to hf as
// that GGUF converts.
ConvertReport convert_from_archive(const ConvertOptions& options);


// `ckpt adapter add ARCHIVE ADAPTER`: the adapter (PEFT directory, GGUF LoRA, or ARCHIVE.ckpt[:NAME])
// stored in the archive, bound to the base tensors it modifies. Only the new sections, the index and
// the trailer are written after the existing bytes; tensor data keeps its offsets and bytes.
struct ArchiveAdapterOptions {
  std::string archive;
  std::string adapter;
  std::string name;    // empty: the adapter directory's (or file's, or archive adapter's) name
  std::string output;  // empty: the archive is updated in place (through a temporary)
  bool replace = false;  // an adapter of the same name is replaced
  bool force = false;    // an adapter bound to another base is bound to this one anyway
  bool dry_run = false;
};
struct ArchiveAdapterReport {
  std::string name, format, digest;
  uint64_t bound_tensors = 0, parameters = 0, bytes = 0;
  bool rebound = false;            // --force bound an adapter made for another base
  bool signature_dropped = false;  // the archive was signed: sign it again
  std::vector<std::string> outputs;
};
// Throws Error: the adapter does not fit the archive's model (every mismatch listed), its name is
// taken, or it comes from an archive whose base differs ("adapter built for a different base").
ArchiveAdapterReport add_archive_adapter(const ArchiveAdapterOptions& options);
// `ckpt adapter rm ARCHIVE NAME`: its sections removed (the sections after them move up).
ArchiveAdapterReport remove_archive_adapter(const std::string& archive, const std::string& name, const std::string& output);
// `ckpt adapter extract ARCHIVE NAME -o OUT`: the adapter's files as they were added (a PEFT directory,
// or the GGUF LoRA file). Returns the files written.
std::vector<std::string> extract_archive_adapter(const std::string& archive, const std::string& name, const std::string& output, bool force);

}  // namespace ckpt
