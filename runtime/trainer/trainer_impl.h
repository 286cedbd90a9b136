// Inside the trainer plugin: the training run itself (trainer.cpp), and the C entry point the loader
// in the ckpt binary calls (plugin_entry.cpp). Errors cross the plugin boundary as plain values.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/trainer/trainer.h"

namespace ckpt::runtime {

FinetuneReport run_finetune(const FinetuneOptions& options);

// ckpt::Error's fields, carried out of the plugin and thrown again by the loader.
struct PluginError {
  bool failed = false;
  int code = 0;
  std::string file, field, detail;
  uint64_t offset = 0;
};

}  // namespace ckpt::runtime

// The one symbol the plugin exports.
extern "C" void ckpt_trainer_finetune(const ckpt::runtime::FinetuneOptions* options, ckpt::runtime::FinetuneReport* report,
                                      ckpt::runtime::PluginError* error);
#define CKPT_TRAINER_ENTRY "ckpt_trainer_finetune"
