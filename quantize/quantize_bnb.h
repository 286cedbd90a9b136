// HF checkpoints -> bitsandbytes 4-bit checkpoints (the layout transformers loads with load_in_4bit).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "formats/model_source.h"
#include "quantize/bnb4.h"
#include "quantize/quantize_gguf.h"

namespace ckpt {

struct BnbSpec {
  Bnb4Type type;
  bool double_quant;
};

// "nf4", "nf4-dq", "fp4", "fp4-dq" (case-insensitive).
std::optional<BnbSpec> parse_bnb_type(const std::string& name);

// The Linear weights transformers would quantize: 2-D float ".weight"s, not embeddings, lm_head or norms.
bool bnb_should_quantize(const std::string& name, const std::vector<uint64_t>& shape, DType dtype);

// Writes OUTPUT_DIR/model.safetensors (+ shards), config.json with quantization_config, tokenizer files.
QuantizeReport quantize_hf_to_bnb(const QuantizeOptions& options, const BnbSpec& spec);
// The same for an opened source (tensors may be computed: `decode`), with its config.json text
// (empty: read source.config_path). Used by merge --outtype nf4-dq.
QuantizeReport quantize_source_to_bnb(const ModelSource& source, const std::string& config_text, const QuantizeOptions& options,
                                      const BnbSpec& spec);

}  // namespace ckpt
