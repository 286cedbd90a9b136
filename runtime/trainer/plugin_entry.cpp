// The trainer plugin's entry point: runs the training and hands any failure back as values, so no
// exception has to cross the dlopen boundary.
#include <exception>
#include <new>

#include "formats/error.h"
#include "formats/signal_cleanup.h"
#include "runtime/trainer/trainer_impl.h"

extern "C" __attribute__((visibility("default"))) void ckpt_trainer_finetune(const ckpt::runtime::FinetuneOptions* options,
                                                                             ckpt::runtime::FinetuneReport* report,
                                                                             ckpt::runtime::PluginError* error) {
  // The plugin has its own copy of the temporaries registry (its ckpt libraries are private to it):
  // its handlers must be the ones a signal reaches, or a checkpoint being staged would be left behind.
  ckpt::install_signal_cleanup();
  try {
    *report = ckpt::runtime::run_finetune(*options);
  } catch (const ckpt::Error& e) {
    *error = {true, static_cast<int>(e.code()), e.file(), e.field(), e.detail(), e.offset()};
  } catch (const std::bad_alloc&) {
    *error = {true, static_cast<int>(ckpt::ErrorCode::TooLarge), options->base, "memory", "out of memory while training", ckpt::Error::kNoOffset};
  } catch (const std::exception& e) {  // libtorch's c10::Error and the like
    *error = {true, static_cast<int>(ckpt::ErrorCode::InvalidArgument), options->base, "finetune", e.what(), ckpt::Error::kNoOffset};
  }
}
