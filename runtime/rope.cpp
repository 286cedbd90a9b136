#include "runtime/rope.h"

#include <algorithm>
#include <cmath>

namespace ckpt::runtime {
namespace {

// Per rotated pair i: freq_scale * base^(-2i/d) / factors[i]. YaRN as ggml's rope_yarn applies it
// with llama.cpp's defaults (ext_factor 1, beta_fast 32, beta_slow 1): pair i's angle mixes the
// interpolated and extrapolated ones by a ramp over the correction dims, and cos/sin are scaled by
// 1 + 0.1 ln(factor) times rope.scaling.attn_factor.
std::vector<float> rope_table(const Hparams& hp, const std::vector<float>& factors, float base, float freq_scale, bool yarn, float& mscale) {
  double corr_low = 0, corr_high = 0;
  if (yarn) {
    auto corr_dim = [&](double n_rot) {
      return hp.rope_dims * std::log(hp.yarn_orig_ctx / (n_rot * 2 * M_PI)) / (2 * std::log(double{base}));
    };
    corr_low = std::max(0.0, std::floor(corr_dim(32.0)));
    corr_high = std::min(static_cast<double>(hp.rope_dims) - 1, std::ceil(corr_dim(1.0)));
    mscale = static_cast<float>((1.0 + 0.1 * std::log(1.0 / freq_scale)) * hp.rope_attn_factor);
  }
  std::vector<float> table;
  for (size_t i = 0; i < hp.rope_dims / 2; ++i) {
    double f = std::pow(double{base}, -2.0 * static_cast<double>(i) / hp.rope_dims);
    if (!factors.empty()) f /= factors[i];
    if (yarn) {
      const double y = (static_cast<double>(i) - corr_low) / std::max(0.001, corr_high - corr_low);
      const double ramp = 1 - std::min(1.0, std::max(0.0, y));
      f *= freq_scale * (1 - ramp) + ramp;
    } else {
      f *= freq_scale;
    }
    table.push_back(static_cast<float>(f));
  }
  return table;
}

}  // namespace

RopeTables rope_tables(const Model& model, uint32_t n_ctx) {
  const Hparams& hp = model.hp;
  const std::vector<float>& factors = !model.rope_freq_factors.empty() ? model.rope_freq_factors
                                      : n_ctx > hp.yarn_orig_ctx       ? model.rope_factors_long
                                                                       : model.rope_factors_short;
  RopeTables t;
  t.mscale = hp.rope_attn_factor;
  t.inv_freq = rope_table(hp, factors, hp.rope_base, hp.rope_freq_scale, hp.rope_yarn, t.mscale);
  if (!hp.swa_layers.empty()) t.inv_freq_swa = rope_table(hp, factors, hp.rope_base_swa, hp.rope_freq_scale_swa, false, t.mscale);
  return t;
}

}  // namespace ckpt::runtime
