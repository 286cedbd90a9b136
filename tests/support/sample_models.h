// The shipped sample model in the forms several test files run it in.
#pragma once

#include <string>
#include <vector>

#include "quantize/quantize_bnb.h"
#include "tests/support/test_support.h"

namespace ckpt::test {

inline const std::string kSampleDir = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

// The sample's HF directory, then its bitsandbytes NF4 (double-quantized) and FP4 forms written
// into `dir` by ckpt's bnb quantizer.
inline std::vector<std::string> sample_and_bnb4_forms(const TempDir& dir) {
  std::vector<std::string> models = {kSampleDir};
  for (const char* type : {"nf4-dq", "fp4"}) {
    QuantizeOptions q;
    q.input = kSampleDir;
    q.output = dir.file(type);
    quantize_hf_to_bnb(q, *parse_bnb_type(type));
    models.push_back(q.output);
  }
  return models;
}

}  // namespace ckpt::test
