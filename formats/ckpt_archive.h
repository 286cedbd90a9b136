// ckpt's native archive (.ckpt): one file holding a model's tensors exactly as stored (every
// safetensors dtype, every ggml block type, bitsandbytes codes with their quantization state), its
// side files (config.json, tokenizer files, generation config), the GGUF metadata or safetensors
// __metadata__ it came with, provenance, and named LoRA adapters; every byte covered by a digest.
//
// Byte layout (little-endian):
//   [0, 4096)         lead page: magic "CKPTARC\0", u16 major (1), u16 minor (0), u32 flags (0), zeros
//   tensor data       each tensor at a multiple of 4096 (mmap, O_DIRECT, GPU direct storage), zero padding
//   sections          each at a multiple of 4096; zlib-compressed or raw
//   index             UTF-8 JSON, compact, keys in a fixed order (below), at a multiple of 64
//   trailer (64)      at the very end:
//     0  8  magic "CKPTIDX\0"       16 8  index_length           28 4  trailer_crc32 (CRC32 of the
//     8  8  index_offset            24 4  index_crc32 (zlib)           64 bytes with these 4 zeroed)
//     32 8  signature_offset (0: unsigned)   40 8  signature_length   48 16 zeros
// Index: {"format":"ckpt-archive","version":[1,0],"alignment":4096,"origin":KIND,
//         "tensors":[{"name","dtype","shape":[outermost first],"offset","length","sha256"}...],
//         "sections":[{"name","kind","offset","length","size","compression":"none"|"zlib","sha256"}...]}
//   tensors in canonical order (names compared with digit runs as numbers: blk.2 before blk.10), so the
//   same input always gives the same bytes; section sha256 is over the decoded bytes. The manifest
//   digest is SHA-256 of the index bytes: it covers every tensor and section digest, so signing it
//   authenticates metadata as well as weights. The index sits at the end so that adding an adapter
//   rewrites only the new section, the index and the trailer, never tensor data.
// Section kinds: "file" (a side file, named as on disk), "gguf-metadata" (a GGUF with the source's KVs
// and no tensors), "tensor-order" (JSON array: the source file's tensor order, for GGUF sources),
// "safetensors-metadata" (JSON object of the __metadata__), "provenance" (JSON),
// "adapter" (a PEFT adapter: JSON with config, base binding and tensors stored as sections
// "adapter/NAME/..."). Unknown kinds are kept and reported, not fatal; a newer major version is refused.
//
// The reader trusts no length it has not checked: lead page, trailer CRC, index within the file and
// <= 256 MiB, index CRC32, every tensor's dtype/shape/length agreeing and lying inside the data
// region, aligned, in order and without overlap, sections likewise and decoded sizes capped.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/dtype.h"
#include "formats/mapped_file.h"
#include "formats/sha256.h"
#include "formats/tensor.h"

namespace ckpt {

inline constexpr uint64_t kCkptAlignment = 4096;
inline constexpr uint16_t kCkptMajor = 1, kCkptMinor = 0;
inline constexpr uint64_t kCkptTrailerBytes = 64;
inline constexpr uint64_t kCkptMaxIndexBytes = uint64_t{256} << 20;
inline constexpr uint64_t kCkptMaxSectionBytes = uint64_t{4} << 30;  // decoded

struct CkptTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;  // outermost first (PyTorch order)
  uint64_t offset = 0, length = 0;
  Sha256Digest sha256{};
  std::span<const std::byte> data;  // into the mapped file
};

struct CkptSection {
  std::string name, kind;
  uint64_t offset = 0, length = 0, size = 0;
  bool zlib = false;
  Sha256Digest sha256{};
  std::span<const std::byte> stored;  // as in the file
  bool known_kind() const;
};

struct CkptArchive {
  std::shared_ptr<const MappedFile> file;
  uint16_t major = kCkptMajor, minor = kCkptMinor;
  std::string origin;  // the source kind it was made from ("hf-checkpoint", "gguf", ...)
  std::vector<CkptTensor> tensors;
  std::vector<CkptSection> sections;
  uint64_t index_offset = 0, index_length = 0;
  uint64_t signature_offset = 0, signature_length = 0;
  Sha256Digest manifest{};  // SHA-256 of the index bytes

  const CkptTensor* find_tensor(std::string_view name) const;
  const CkptSection* find_section(std::string_view name) const;
  // Decoded bytes of a section, its SHA-256 checked. Throws Error(BadChecksum / Truncated / TooLarge).
  std::vector<std::byte> section_bytes(const CkptSection& section) const;
  std::string section_text(std::string_view name) const;  // "" when absent
  // The tensors in the order of the file they came from (the "tensor-order" section, when it lists
  // exactly these names; otherwise the archive's canonical order), so a GGUF comes back as it was.
  std::vector<const CkptTensor*> tensors_in_source_order() const;
};

bool is_ckpt_archive(std::span<const std::byte> head);  // the lead page's magic
// A regular file that starts with that magic (reads 8 bytes; false for directories and short files).
bool is_ckpt_archive_path(const std::string& path);
CkptArchive read_ckpt_archive(std::shared_ptr<const MappedFile> file);
CkptArchive read_ckpt_archive(const std::string& path);

// What the writer stores. Tensors keep their bytes; sections are given decoded.
struct CkptInputTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::span<const std::byte> data;
};
struct CkptInputSection {
  std::string name, kind;
  std::vector<std::byte> bytes;
  bool compress = true;

  // A section holding `text` (JSON, a config file), compressed.
  static CkptInputSection text(std::string name, std::string kind, std::string_view text);
  // A section holding the bytes of the file at `path`; throws Error(Io) naming it.
  static CkptInputSection file(std::string name, std::string kind, const std::string& path, bool compress);
};

// Writes the archive through a temporary file renamed into place. `threads` hash tensors in parallel.
// Tensors are put in canonical order; the result depends only on the inputs.
void write_ckpt_archive(const std::string& path, const std::string& origin, std::vector<CkptInputTensor> tensors,
                        std::vector<CkptInputSection> sections, unsigned threads);

// The same archive from tensors given as writers (a rewrite's outputs: quantized, merged, converted),
// each hashed as it streams to the file, so only what one writer holds is in memory.
void write_ckpt_archive_streamed(const std::string& path, const std::string& origin, std::vector<TensorToWrite> tensors,
                                 std::vector<CkptInputSection> sections);

// Adds and removes sections (adapters) without touching tensor data: the tensors, and every section
// before the first one removed, keep their bytes and offsets (copied in the kernel); the sections
// after it move up, `add` goes at the end, and a new index and trailer follow. The result goes to
// `output` (== `path` to update in place, atomically); a signature is not carried over, since the
// manifest it signed has changed. Throws Error(NotFound) for a section to remove that is not there,
// Error(DuplicateName) for one to add that is.
void update_ckpt_archive(const std::string& path, const std::string& output, std::vector<CkptInputSection> add,
                         const std::vector<std::string>& remove);

// Bytes a tensor of this dtype and shape occupies, or nullopt when the shape does not fit the dtype (a
// block type's rows must hold whole blocks): the one rule the writer and the reader both apply.
std::optional<uint64_t> ckpt_tensor_bytes(DType dtype, const std::vector<uint64_t>& shape);

// Canonical order: digit runs compare as numbers, everything else bytewise.
bool ckpt_name_less(std::string_view a, std::string_view b);

struct CkptVerifyReport {
  std::vector<std::string> bad_tensors;   // SHA-256 mismatch
  std::vector<std::string> bad_sections;
  uint64_t bytes_hashed = 0;
  bool ok() const { return bad_tensors.empty() && bad_sections.empty(); }
};
// Every tensor's and section's SHA-256 against the index (the index itself was checked on open).
CkptVerifyReport verify_ckpt_archive(const CkptArchive& archive, unsigned threads);

}  // namespace ckpt
