#include "runtime/lora.h"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "formats/ckpt_archive_adapters.h"
#include "formats/architecture.h"
#include "formats/lora_adapter.h"
#include "formats/permute.h"
#include "quantize/quantize.h"
#include "runtime/matmul.h"

namespace ckpt::runtime {

namespace {

struct Targets {
  std::map<std::string, Weight*> weights;
  std::map<std::string, std::vector<float>*> biases;
};

Targets targets_of(Model& m) {
  Targets t;
  t.weights["token_embd.weight"] = &m.tok_embd;
  t.weights["output.weight"] = &m.output;  // tied: a copy of the embedding, so a delta here unties it
  for (size_t i = 0; i < m.layers.size(); ++i) {
    Layer& l = m.layers[i];
    const std::string p = fmt::format("blk.{}.", i);
    const std::pair<const char*, Weight*> ws[] = {{"attn_q", &l.wq},     {"attn_k", &l.wk},  {"attn_v", &l.wv},       {"attn_qkv", &l.wqkv},
                                                  {"attn_output", &l.wo}, {"ffn_gate", &l.w_gate}, {"ffn_up", &l.w_up}, {"ffn_down", &l.w_down}};
    for (const auto& [n, w] : ws) {
      if (w->present()) t.weights[p + n + ".weight"] = w;
    }
    const std::pair<const char*, std::vector<float>*> bs[] = {{"attn_q", &l.bq},     {"attn_k", &l.bk},      {"attn_v", &l.bv}, {"attn_qkv", &l.bqkv},
                                                              {"attn_output", &l.bo}, {"ffn_up", &l.b_up}, {"ffn_down", &l.b_down}};
    for (const auto& [n, b] : bs) {
      if (!b->empty()) t.biases[p + n + ".bias"] = b;
    }
  }
  return t;
}

[[noreturn]] void refuse(const std::string& adapter, const std::string& what, const std::string& why) {
  throw Error(ErrorCode::Unsupported, adapter, Error::kNoOffset, what, why + "; merge the adapter into the base instead (ckpt merge)");
}

// DoRA's per-row factor m / ||W + delta||, from the weight's rows decoded to f32.
std::vector<float> dora_factor(const Weight& w, const LoraTerm& t, const std::vector<float>& magnitude) {
  std::vector<float> row(w.cols), out(w.rows);
  for (uint64_t o = 0; o < w.rows; ++o) {
    decode_weight_row(w, o, row);
    double n = 0;
    for (uint64_t i = 0; i < w.cols; ++i) {
      double d = row[i];
      float s = 0;
      for (uint32_t k = 0; k < t.r; ++k) s += (*t.b)[o * t.r + k] * (*t.a)[k * w.cols + i];
      d += s;
      n += d * d;
    }
    out[o] = static_cast<float>(magnitude[o] / std::sqrt(n));
  }
  return out;
}

}  // namespace

void attach_lora(Model& model, const std::vector<LoraSpec>& specs) {
  if (specs.empty()) return;
  const Architecture* arch = find_architecture_by_gguf_name(model.hp.arch_name);
  Targets targets = targets_of(model);
  const bool tied = model.output.data == model.tok_embd.data;
  for (const auto& spec : specs) {
    auto ad = std::shared_ptr<LoraAdapter>(open_lora_adapter_for_base(model.path, spec.path));
    model.keep_alive.push_back(ad);
    if (ad->gguf && ad->gguf_architecture != model.hp.arch_name) {
      throw Error(ErrorCode::InvalidArgument, spec.path, Error::kNoOffset, "general.architecture",
                  "a '" + ad->gguf_architecture + "' adapter cannot apply to a '" + model.hp.arch_name + "' model");
    }
    if (!ad->full.empty()) refuse(spec.path, "tensor '" + ad->full.front().name + "'", "modules_to_save replace whole tensors");
    for (const auto& m : ad->modules) {
      if (m.embedding) refuse(spec.path, "module '" + m.module + "'", "embedding LoRA changes the token lookup");
      std::string name = m.module + ".weight";
      TensorOp op = TensorOp::None;
      if (!ad->gguf) {
        const auto mapped = arch ? map_tensor_name(*arch, name) : std::nullopt;
        if (!mapped) throw Error(ErrorCode::NotFound, spec.path, Error::kNoOffset, "module '" + m.module + "'", "has no tensor in this model");
        name = mapped->gguf_name;
        op = mapped->op;
      } else if (arch) {
        if (const auto back = map_tensor_name_to_hf(*arch, name)) op = back->op;
      }
      const auto it = targets.weights.find(name);
      if (it == targets.weights.end()) throw Error(ErrorCode::NotFound, spec.path, Error::kNoOffset, "module '" + m.module + "'", "has no tensor '" + name + "' in this model");
      Weight& w = *it->second;
      if (w.rows != m.out_features() || w.cols != m.in_features()) {
        throw Error(ErrorCode::BadShape, spec.path, Error::kNoOffset, "module '" + m.module + "'",
                    fmt::format("makes a [{}, {}] delta but '{}' is [{}, {}]", m.out_features(), m.in_features(), name, w.rows, w.cols));
      }
      // B's rows in the weight's row order: GGUF llama permutes Q/K, an HF model keeps them.
      const uint64_t heads = heads_for_rows(op, model.hp.n_head, model.hp.n_head_kv);
      const bool to_gguf = heads && !ad->gguf && !model.hf_qk_rows, to_hf = heads && ad->gguf && model.hf_qk_rows;
      auto source_row = [&](uint64_t o, uint64_t rows) {
        return to_gguf ? hf_row_for(op, o, rows, heads) : to_hf ? gguf_row_for(op, o, rows, heads) : o;
      };
      std::vector<float> b = decode_tensor_values(*m.b, 1);
      const float scale = static_cast<float>(m.scale * spec.scale);
      std::vector<float> scaled(b.size());
      for (uint64_t o = 0; o < w.rows; ++o) {
        const uint64_t src = source_row(o, w.rows);
        for (uint64_t k = 0; k < m.r; ++k) scaled[o * m.r + k] = b[src * m.r + k] * scale;
      }
      LoraTerm term{std::make_shared<const std::vector<float>>(decode_tensor_values(*m.a, 1)), std::make_shared<const std::vector<float>>(std::move(scaled)),
                    static_cast<uint32_t>(m.r)};
      if (tied && name == "output.weight") model.output.name = "output.weight";  // untied by this delta
      if (m.magnitude) {
        if (w.bnb4 || !w.lora.empty() || specs.size() > 1 || spec.scale != 1.0) {
          refuse(spec.path, "module '" + m.module + "'", "DoRA applies alone, with scale 1, to a non-bitsandbytes weight");
        }
        std::vector<float> mag = decode_tensor_values(*m.magnitude, 1);
        if (to_gguf || to_hf) {
          std::vector<float> p(mag.size());
          for (uint64_t o = 0; o < w.rows; ++o) p[o] = mag[source_row(o, w.rows)];
          mag = std::move(p);
        }
        w.dora_factor = std::make_shared<const std::vector<float>>(dora_factor(w, term, mag));
      } else if (w.dora_factor) {
        refuse(spec.path, "module '" + m.module + "'", "a DoRA module cannot combine with other adapters");
      }
      w.lora.push_back(std::move(term));
      if (m.bias) {
        auto bit = targets.biases.find(name.substr(0, name.size() - std::string(".weight").size()) + ".bias");
        if (bit == targets.biases.end()) refuse(spec.path, "module '" + m.module + "'", "the model has no bias for lora_B.bias");
        const std::vector<float> lb = decode_tensor_values(*m.bias, 1);
        std::vector<float>& dst = *bit->second;
        for (uint64_t o = 0; o < dst.size(); ++o) {
          dst[o] += lb[source_row(o, dst.size())] * scale;
        }
      }
    }
  }
}

}  // namespace ckpt::runtime
