#include "formats/output_guard.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "formats/error.h"
#include "formats/signal_cleanup.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

using FileId = std::pair<dev_t, ino_t>;

[[noreturn]] void refuse(const std::string& output, const std::string& detail) {
  throw Error(ErrorCode::InvalidArgument, output, Error::kNoOffset, "output", detail);
}

std::string kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

}  // namespace

bool is_plain_file_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos && name.find('\\') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

void check_output_path(const std::string& output, const std::vector<std::string>& inputs, bool output_is_directory) {
  std::set<FileId> input_files;
  std::vector<fs::path> input_paths;
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    struct stat st {};
    if (::stat(in.c_str(), &st) != 0) continue;  // the reader reports missing inputs
    input_files.insert({st.st_dev, st.st_ino});
    std::error_code ec;
    input_paths.push_back(fs::weakly_canonical(in, ec));
    if (S_ISDIR(st.st_mode)) {
      for (const auto& entry : fs::directory_iterator(in, ec)) {
        struct stat est {};
        if (::stat(entry.path().c_str(), &est) == 0) input_files.insert({est.st_dev, est.st_ino});
      }
    }
  }
  struct stat st {};
  if (::stat(output.c_str(), &st) == 0) {
    if (input_files.count({st.st_dev, st.st_ino})) refuse(output, "is one of the inputs; ckpt never overwrites its input");
    if (output_is_directory) {
      if (!S_ISDIR(st.st_mode)) refuse(output, "exists and is " + kind_of(st.st_mode) + ", not a directory");
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(output, ec)) {
        struct stat est {};
        if (::stat(entry.path().c_str(), &est) == 0 && input_files.count({est.st_dev, est.st_ino})) {
          refuse(output, "holds the input " + entry.path().filename().string() + "; ckpt never overwrites its input");
        }
      }
    } else if (!S_ISREG(st.st_mode)) {
      refuse(output, "is " + kind_of(st.st_mode) + "; outputs are regular files");
    }
  }
  if (output_is_directory) {
    std::error_code ec;
    const fs::path out = fs::weakly_canonical(output, ec);
    for (const auto& in : input_paths) {
      const auto rel = in.lexically_relative(out);
      if (!rel.empty() && *rel.begin() != "..") refuse(output, "contains the input " + in.string());
    }
  }
}

StagingDir::StagingDir(std::string destination, bool force, Mode mode)
    : destination_(std::move(destination)), force_(force), mode_(mode) {
  while (destination_.size() > 1 && destination_.ends_with('/')) destination_.pop_back();
  struct stat st {};
  if (mode_ == Mode::Directory && ::stat(destination_.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) refuse(destination_, "exists and is " + kind_of(st.st_mode) + ", not a directory");
    std::error_code ec;
    if (!force_ && !fs::is_empty(destination_, ec)) refuse(destination_, "is a non-empty directory; pass --force to replace it");
  }
  remove_stale_temporaries(destination_);
  path_ = temporary_prefix(destination_, true) + std::to_string(::getpid()) + "-XXXXXX";
  if (!::mkdtemp(path_.data())) {
    throw Error(ErrorCode::Io, destination_, Error::kNoOffset, "output",
                std::string("cannot create a staging directory beside it: ") + std::strerror(errno));
  }
  ::chmod(path_.c_str(), 0755);  // mkdtemp makes 0700; outputs are ordinary directories
  slot_ = register_temporary(path_, TempKind::Directory);
}

StagingDir::~StagingDir() {
  unregister_temporary(slot_);
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

std::string StagingDir::final_path(const std::string& name) const {
  if (mode_ == Mode::FilesBeside) return (fs::path(destination_).parent_path() / name).string();
  return (fs::path(destination_) / name).string();
}

void StagingDir::commit() {
  if (committed_) return;
  if (mode_ == Mode::FilesBeside) {
    std::vector<fs::path> staged;
    for (const auto& entry : fs::directory_iterator(path_)) staged.push_back(entry.path());
    std::sort(staged.begin(), staged.end());
    // The shards move one rename at a time: until the last one is in place, each placed shard is a
    // temporary too, so a signal in between removes them all rather than leaving a partial set.
    std::vector<int> placed;
    auto release = [&] {
      for (int slot : placed) unregister_temporary(slot);
    };
    for (const auto& file : staged) {
      const std::string target = final_path(file.filename().string());
      placed.push_back(register_temporary(target, TempKind::File));
      if (::rename(file.c_str(), target.c_str()) != 0) {
        const int err = errno;
        for (size_t i = 0; i + 1 < placed.size(); ++i) ::unlink(final_path(staged[i].filename().string()).c_str());
        release();
        throw Error(ErrorCode::Io, target, Error::kNoOffset, "output",
                    std::string("cannot move the staged file into place: ") + std::strerror(err));
      }
    }
    release();
    committed_ = true;
    ::rmdir(path_.c_str());
    unregister_temporary(slot_);
    slot_ = -1;
    return;
  }
  // rename(2) replaces an empty directory in one step; a non-empty one (--force) is swapped with
  // renameat2(RENAME_EXCHANGE) and the old contents, now at the staging path, removed after.
  if (::rename(path_.c_str(), destination_.c_str()) == 0) {
    committed_ = true;
    unregister_temporary(slot_);
    slot_ = -1;
    return;
  }
  if ((errno == ENOTEMPTY || errno == EEXIST) && force_) {
    if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, destination_.c_str(), RENAME_EXCHANGE) == 0) {
      committed_ = true;
      std::error_code ec;
      fs::remove_all(path_, ec);  // the replaced directory
      unregister_temporary(slot_);
      slot_ = -1;
      return;
    }
  }
  throw Error(ErrorCode::Io, destination_, Error::kNoOffset, "output",
              std::string("cannot move the staged output into place: ") + std::strerror(errno));
}

}  // namespace ckpt
