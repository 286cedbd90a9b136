// Built when CMake found no libtorch: `ckpt finetune` explains instead of training.
#include "formats/error.h"
#include "runtime/trainer/trainer.h"

namespace ckpt::runtime {

bool trainer_available() { return false; }

FinetuneReport finetune(const FinetuneOptions&) {
  throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "finetune",
              "this ckpt was built without libtorch (install Debian's libtorch-dev and libgloo-dev, then rebuild)");
}

}  // namespace ckpt::runtime
