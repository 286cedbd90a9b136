// A read-only memory map of a whole file. Readers take spans into it, so tensor data is never copied;
// the map lives as long as any TensorFile that points into it (shared_ptr).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace ckpt {

class MappedFile {
 public:
  // Throws Error(Io) naming `path` when it cannot be opened or mapped. Empty files map to an empty span.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  // Wraps bytes already in memory (tests, fuzzers); `name` is used in error messages.
  static std::shared_ptr<const MappedFile> from_bytes(std::string name, std::span<const std::byte> bytes);

  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // The open file behind the map (-1 for from_bytes): lets sinks copy ranges in the kernel.
  int fd() const { return fd_; }

  // Tells the kernel the range will be read front to back soon (readahead); purely advisory.
  void advise_sequential(size_t offset, size_t length) const;
  // Drops the pages of `range` (a span into this map) from this process; they are re-read from the
  // page cache if touched again. Keeps RSS bounded while streaming through a file larger than memory.
  void release(std::span<const std::byte> range) const;

 private:
  MappedFile() = default;
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool is_mmap_ = false;
  int mapping_slot_ = -1;
  int fd_ = -1;  // signal_cleanup: a SIGBUS in this range names the file
  std::unique_ptr<std::byte[]> owned_;
};

}  // namespace ckpt
