// `ckpt convert` into and out of .ckpt archives (formats/ckpt_archive.h).
#pragma once

#include <string>

#include "convert/convert.h"

namespace ckpt {

// Any model ckpt reads -> OUTPUT.ckpt: stored tensors as they are, side files, GGUF metadata, provenance.
ConvertReport convert_to_archive(const ConvertOptions& options);
// OUTPUT from an archive: --to hf (safetensors dtypes) or GGUF (archives made from a GGUF).
ConvertReport convert_from_archive(const ConvertOptions& options);

}  // namespace ckpt
