// Builds a Model from GGUF-named tensors and GGUF-style metadata, whichever file format supplied them.
// Both loaders (GGUF, HF directory) map their input onto this so shape checks live in one place.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "runtime/model.h"

namespace ckpt::runtime {

// A tensor as the loader found it, named and shaped the GGUF way (ne[0] innermost).
struct FoundTensor {
  Weight weight;              // matrices: rows/cols from ne; vectors: rows == 1
  std::vector<uint64_t> ne;
  std::string file;           // for errors
  uint64_t offset = 0;        // where its description sits in `file`
};

using TensorLookup = std::function<std::optional<FoundTensor>(const std::string& gguf_name)>;

// Reads {arch}.* keys; `file` names the source in errors.
Hparams hparams_from_kvs(const std::vector<GgufKv>& kvs, const std::string& file);

// Fills model.layers etc. from `lookup`; checks every shape against model.hp.
void assemble_model(Model& model, const TensorLookup& lookup);

}  // namespace ckpt::runtime
