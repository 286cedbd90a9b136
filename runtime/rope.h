// The rotary position tables a model's layers use, for a given context size: the forward pass and the
// trainer rotate q and k with the same angles.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/model.h"

namespace ckpt::runtime {

struct RopeTables {
  std::vector<float> inv_freq;      // per rotated pair: scale * base^(-2i/d) / factor_i (YaRN: ramped scale)
  std::vector<float> inv_freq_swa;  // the same for sliding-window layers (Gemma 3's local base); empty without them
  float mscale = 1.0f;              // cos/sin scale: rope.scaling.attn_factor (times YaRN's correction)
  // Pairs rotated in layer `il` (0 for EXAONE 4's rope-less global layers) and the table it uses.
  uint32_t pairs(const Hparams& hp, uint32_t il) const { return hp.rope_only_swa && !hp.is_swa(il) ? 0 : hp.rope_dims / 2; }
  const std::vector<float>& table(const Hparams& hp, uint32_t il) const { return hp.is_swa(il) ? inv_freq_swa : inv_freq; }
};

// llama_model::get_rope_factors picks the per-pair divisors: rope_freqs if the file has them, else
// Phi-3's long factors when the context exceeds the original one, the short ones otherwise.
RopeTables rope_tables(const Model& model, uint32_t n_ctx);

}  // namespace ckpt::runtime
