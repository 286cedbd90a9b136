#include "formats/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "formats/error.h"
#include "formats/signal_cleanup.h"

namespace ckpt {

namespace {
[[noreturn]] void throw_io(const std::string& path, const char* what) {
  throw Error(ErrorCode::Io, path, Error::kNoOffset, "", std::string(what) + ": " + std::strerror(errno));
}
}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: opening a FIFO named like a model file would otherwise wait forever for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw_io(path, "cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw_io(path, "cannot stat");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    errno = EISDIR;
    throw_io(path, "cannot map");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::Io, path, Error::kNoOffset, "file",
                S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file" : "is a device or socket, not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw_io(path, "cannot mmap");
    }
    file->data_ = static_cast<const std::byte*>(p);
    file->is_mmap_ = true;
    file->mapping_slot_ = register_mapping(p, file->size_, path);
  }
  file->fd_ = fd;  // kept for copy_file_range of bytes that pass through unchanged
  return file;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(std::string name, std::span<const std::byte> bytes) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = std::move(name);
  file->size_ = bytes.size();
  // Copy into an exact-size heap block so ASan catches any read one past the end.
  file->owned_ = std::make_unique<std::byte[]>(bytes.size() == 0 ? 1 : bytes.size());
  if (!bytes.empty()) std::memcpy(file->owned_.get(), bytes.data(), bytes.size());
  file->data_ = file->owned_.get();
  return file;
}

MappedFile::~MappedFile() {
  if (fd_ >= 0) ::close(fd_);
  unregister_mapping(mapping_slot_);
  if (is_mmap_) ::munmap(const_cast<std::byte*>(data_), size_);
}

void MappedFile::advise_sequential(size_t offset, size_t length) const {
  if (!is_mmap_ || length == 0 || offset >= size_) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t start = offset & ~(page - 1);
  const size_t end = std::min(size_, offset + std::min(length, size_ - offset));
  ::madvise(const_cast<std::byte*>(data_) + start, end - start, MADV_SEQUENTIAL | MADV_WILLNEED);
}

}  // namespace ckpt

namespace ckpt {

void MappedFile::release(std::span<const std::byte> range) const {
  if (!is_mmap_ || range.empty()) return;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const auto base = reinterpret_cast<uintptr_t>(data_);
  const auto begin = reinterpret_cast<uintptr_t>(range.data());
  const auto end = begin + range.size();
  if (begin < base || end > base + size_) return;
  // Only whole pages inside the range: a neighbouring tensor may share the edge pages.
  const uintptr_t first = (begin + page - 1) & ~(page - 1);
  const uintptr_t last = end & ~(page - 1);
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace ckpt
