// In the ckpt binary: finds and loads the trainer plugin on first use (libtorch is heavy: loading it
// costs every command half a second and ~150 MB, so only `ckpt finetune` pays).
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "formats/error.h"
#include "runtime/trainer/trainer_impl.h"

namespace ckpt::runtime {
namespace {

using Entry = decltype(&ckpt_trainer_finetune);

struct Plugin {
  Entry entry = nullptr;
  std::string why;  // when entry is null
};

const Plugin& plugin() {
  static Plugin p;
  static std::once_flag once;
  std::call_once(once, [] {
#ifndef CKPT_TRAINER_PLUGIN_PATH
    p.why = "this ckpt was built without libtorch (install Debian's libtorch-dev and libgloo-dev, then rebuild)";
#else
    namespace fs = std::filesystem;
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("CKPT_TRAINER_PLUGIN")) candidates.push_back(env);
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      candidates.push_back((exe.parent_path() / "libckpt-trainer.so").string());
      candidates.push_back((exe.parent_path() / "../lib/ckpt/libckpt-trainer.so").string());
    }
    candidates.push_back(CKPT_TRAINER_PLUGIN_PATH);  // the build tree's
    std::string tried;
    for (const auto& path : candidates) {
      if (!fs::exists(path, ec)) {
        tried += (tried.empty() ? "" : ", ") + path;
        continue;
      }
      void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        p.why = std::string("cannot load the trainer plugin: ") + ::dlerror();
        return;
      }
      p.entry = reinterpret_cast<Entry>(::dlsym(handle, CKPT_TRAINER_ENTRY));
      if (!p.entry) p.why = path + " has no " CKPT_TRAINER_ENTRY;
      return;
    }
    p.why = "the trainer plugin libckpt-trainer.so is missing (looked for " + tried + "; set CKPT_TRAINER_PLUGIN)";
#endif
  });
  return p;
}

}  // namespace

std::string trainer_unavailable_reason() { return plugin().entry ? std::string() : plugin().why; }

FinetuneReport finetune(const FinetuneOptions& options) {
  const Plugin& p = plugin();
  if (!p.entry) throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "finetune", p.why);
  FinetuneReport report;
  PluginError error;
  p.entry(&options, &report, &error);
  if (error.failed) throw Error(static_cast<ErrorCode>(error.code), error.file, error.offset, error.field, error.detail);
  return report;
}

}  // namespace ckpt::runtime
