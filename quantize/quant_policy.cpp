#include "quantize/quant_policy.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "formats/gguf.h"

namespace ckpt {

const std::vector<QuantType>& gguf_quant_types() {
  static const std::vector<QuantType> kTypes = {
      {"Q4_0", 2, DType::Q4_0, "4.34G, +0.4685 ppl @ Llama-3-8B"},
      {"Q4_1", 3, DType::Q4_1, "4.78G, +0.4511 ppl @ Llama-3-8B"},
      {"Q5_0", 8, DType::Q5_0, "5.21G, +0.1316 ppl @ Llama-3-8B"},
      {"Q5_1", 9, DType::Q5_1, "5.65G, +0.1062 ppl @ Llama-3-8B"},
      {"IQ4_NL", 25, DType::IQ4_NL, "4.50 bpw non-linear quantization"},
      {"IQ4_XS", 30, DType::IQ4_XS, "4.25 bpw non-linear quantization"},
      {"Q2_K", 10, DType::Q2_K, "2.96G, +3.5199 ppl @ Llama-3-8B"},
      {"Q2_K_S", 21, DType::Q2_K, "2.96G, +3.1836 ppl @ Llama-3-8B (needs --imatrix)", true},
      {"Q3_K_S", 11, DType::Q3_K, "3.41G, +1.6321 ppl @ Llama-3-8B"},
      {"Q3_K_M", 12, DType::Q3_K, "3.74G, +0.6569 ppl @ Llama-3-8B"},
      {"Q3_K", 12, DType::Q3_K, "alias for Q3_K_M"},
      {"Q3_K_L", 13, DType::Q3_K, "4.03G, +0.5562 ppl @ Llama-3-8B"},
      {"Q4_K_S", 14, DType::Q4_K, "4.37G, +0.2689 ppl @ Llama-3-8B"},
      {"Q4_K_M", 15, DType::Q4_K, "4.58G, +0.1754 ppl @ Llama-3-8B"},
      {"Q4_K", 15, DType::Q4_K, "alias for Q4_K_M"},
      {"Q5_K_S", 16, DType::Q5_K, "5.21G, +0.1049 ppl @ Llama-3-8B"},
      {"Q5_K_M", 17, DType::Q5_K, "5.33G, +0.0569 ppl @ Llama-3-8B"},
      {"Q5_K", 17, DType::Q5_K, "alias for Q5_K_M"},
      {"Q6_K", 18, DType::Q6_K, "6.14G, +0.0217 ppl @ Llama-3-8B"},
      {"Q8_0", 7, DType::Q8_0, "7.96G, +0.0026 ppl @ Llama-3-8B"},
      {"F16", 1, DType::F16, "14.00G, +0.0020 ppl @ Mistral-7B"},
      {"BF16", 32, DType::BF16, "14.00G, -0.0050 ppl @ Mistral-7B"},
      {"F32", 0, DType::F32, "26.00G @ 7B"},
  };
  return kTypes;
}

std::optional<QuantType> find_gguf_quant_type(const std::string& name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& t : gguf_quant_types()) {
    if (t.name == upper) return t;
  }
  // llama-quantize also takes the ftype number; the first row with it is the canonical name.
  if (!name.empty() && name.size() <= 3 && std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    const auto ftype = static_cast<uint32_t>(std::stoul(name));
    for (const auto& t : gguf_quant_types()) {
      if (t.llama_ftype == ftype) return t;
    }
  }
  return std::nullopt;
}

namespace {

// llama.cpp's ftype numbers, which the mix rules test.
enum Ftype : uint32_t {
  kQ4_0 = 2, kQ8_0 = 7, kQ5_0 = 8, kQ2_K = 10, kQ3_K_S = 11, kQ3_K_M = 12, kQ3_K_L = 13, kQ4_K_S = 14, kQ4_K_M = 15,
  kQ5_K_M = 17, kQ2_K_S = 21, kIQ4_NL = 25, kIQ4_XS = 30,
};

enum class Category { Output, TokenEmbd, AttnV, AttnK, AttnQ, AttnOutput, FfnUp, FfnGate, FfnDown, Other };

Category category_of(const std::string& n) {
  if (n == "output.weight") return Category::Output;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::TokenEmbd;
  // attn_qkv and attn_kv_b count as attn_v: llama.cpp treats them as the quantization-sensitive group.
  if (n.find("attn_qkv.weight") != std::string::npos || n.find("attn_kv_b.weight") != std::string::npos ||
      n.find("attn_v.weight") != std::string::npos) {
    return Category::AttnV;
  }
  if (n.find("attn_k.weight") != std::string::npos) return Category::AttnK;
  if (n.find("attn_q.weight") != std::string::npos) return Category::AttnQ;
  if (n.find("attn_output.weight") != std::string::npos) return Category::AttnOutput;
  if (n.find("ffn_up") != std::string::npos) return Category::FfnUp;
  if (n.find("ffn_gate") != std::string::npos) return Category::FfnGate;
  if (n.find("ffn_down") != std::string::npos) return Category::FfnDown;
  return Category::Other;
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

int layer_of(const std::string& name) {
  int layer = -1;
  std::sscanf(name.c_str(), "blk.%d.", &layer);
  return layer;
}

// A row that does not fill whole blocks of `t` falls back like llama.cpp's tensor_type_fallback.
DType fallback(DType t, uint64_t ncols) {
  if (ncols % dtype_info(t).block_elems == 0) return t;
  DType f = t;
  switch (t) {
    case DType::IQ4_XS: f = DType::IQ4_NL; break;
    case DType::Q2_K: case DType::Q3_K: f = DType::Q4_0; break;
    case DType::Q4_K: f = DType::Q5_0; break;
    case DType::Q5_K: f = DType::Q5_1; break;
    case DType::Q6_K: f = DType::Q8_0; break;
    default: break;
  }
  return ncols % dtype_info(f).block_elems == 0 ? f : DType::F16;
}

// Substrings of tensors llama.cpp never quantizes (small, or read as integers).
constexpr const char* kNeverQuantized[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_first.weight",
    "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
    "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
    "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
};

}  // namespace

bool llama_cpp_order_less(const std::string& a, const std::string& b) {
  const int la = layer_of(a), lb = layer_of(b);
  return la != lb ? la < lb : a < b;
}

void sort_like_llama_cpp(std::vector<std::string>& names) { std::sort(names.begin(), names.end(), llama_cpp_order_less); }

bool QuantPolicy::allows_quantization(const std::string& name, const std::vector<uint64_t>& ne) {
  size_t n_dims = ne.size();  // ggml_n_dims: trailing dimensions of 1 do not count
  while (n_dims > 1 && ne[n_dims - 1] == 1) --n_dims;
  if (n_dims < 2) return false;
  if (!name.ends_with("weight")) return false;
  for (const char* s : kNeverQuantized) {
    if (name.find(s) != std::string::npos) return false;
  }
  return name != "position_embd.weight" && name != "token_types.weight";
}

QuantModelFacts QuantModelFacts::from_gguf(const GgufFile& file) {
  const std::string arch = file.architecture();
  QuantModelFacts f;
  const uint64_t n_head = file.u64_or(arch + ".attention.head_count", 1);
  const uint64_t n_head_kv = std::max<uint64_t>(1, file.u64_or(arch + ".attention.head_count_kv", n_head));
  f.n_layer = file.u64_or(arch + ".block_count", 0);
  f.n_gqa = n_head / n_head_kv;
  f.n_expert = file.u64_or(arch + ".expert_count", 0);
  f.falcon = arch == "falcon";
  f.is_70b = arch == "llama" && f.n_layer == 80 && n_head != n_head_kv;
  return f;
}

QuantPolicy::QuantPolicy(const QuantType& type, QuantOverrides overrides, const std::vector<std::string>& names,
                         const QuantModelFacts& model)
    : type_(type), overrides_(std::move(overrides)), model_(model) {
  for (const auto& n : names) {
    const Category c = category_of(n);
    if (c == Category::AttnV) ++n_attention_wv_;
    if (c == Category::Output) tied_embeddings_ = false;
  }
}

DType QuantPolicy::choose(const std::string& name, const std::vector<uint64_t>& ne) {
  const Category c = category_of(name);
  if (overrides_.token_embedding_type && c == Category::TokenEmbd) return *overrides_.token_embedding_type;
  if (overrides_.output_type && c == Category::Output) return *overrides_.output_type;
  DType t = type_.default_type;
  if (!is_block_quantized(t)) return t;  // F16/BF16/F32 "mixes" convert every tensor the same way
  bool manual = false;
  for (const auto& [pattern, type] : overrides_.tensor_types) {
    if (std::regex_search(name, pattern)) {
      t = type;
      manual = true;
      break;
    }
  }
  const uint64_t ncols = ne.empty() ? 1 : ne[0];
  if (!manual && !overrides_.pure) t = mix_rule(t, name, ncols);
  return fallback(t, ncols);
}

// llama_tensor_get_type_impl for the ftypes ckpt offers.
DType QuantPolicy::mix_rule(DType t, const std::string& name, uint64_t ncols) {
  const Category c = category_of(name);
  const uint32_t f = type_.llama_ftype;
  const auto& m = model_;
  if (c == Category::Output || (tied_embeddings_ && c == Category::TokenEmbd)) {
    if (overrides_.output_type) {
      t = *overrides_.output_type;
    } else if (m.falcon || ncols % dtype_info(t).block_elems != 0) {
      t = DType::Q8_0;
    } else if (t != DType::Q8_0) {
      t = DType::Q6_K;
    }
  } else if (c == Category::TokenEmbd) {
    // the default type for every ftype ckpt offers
  } else if (c == Category::AttnV) {
    if (f == kQ2_K) {
      t = m.n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
    } else if (f == kQ2_K_S && m.n_gqa >= 4) {
      t = DType::Q4_K;
    } else if (f == kQ3_K_M) {
      t = i_attention_wv_ < 2 ? DType::Q5_K : DType::Q4_K;
    } else if (f == kQ3_K_L) {
      t = DType::Q5_K;
    } else if ((f == kIQ4_NL || f == kIQ4_XS) && m.n_gqa >= 4) {
      t = DType::Q5_K;
    } else if ((f == kQ4_K_M || f == kQ5_K_M) && use_more_bits(i_attention_wv_, n_attention_wv_)) {
      t = DType::Q6_K;
    } else if (f == kQ4_K_S && i_attention_wv_ < 4) {
      t = DType::Q5_K;
    }
    // 70B shares each attn_v across 8 heads: more bits there cost little.
    if (m.is_70b && (t == DType::Q3_K || t == DType::Q4_K)) t = DType::Q5_K;
    if (m.n_expert == 8) t = DType::Q8_0;
    ++i_attention_wv_;
  } else if (c == Category::AttnK) {
    if (m.n_expert == 8) t = DType::Q8_0;
  } else if (c == Category::FfnDown) {
    // Mixtral's experts are not stored in layer order: with experts the layer comes from the name.
    const int i_layer = m.n_expert > 1 ? layer_of(name) : i_ffn_down_;
    const int n_layer = static_cast<int>(m.n_layer);
    const bool more = use_more_bits(i_layer, n_layer);
    if (f == kQ2_K) {
      t = DType::Q3_K;
    } else if (f == kQ2_K_S) {
      if (i_layer < n_layer / 8) t = DType::Q4_K;
    } else if (f == kQ3_K_M) {
      t = i_layer < n_layer / 16 ? DType::Q5_K : !m.falcon || more ? DType::Q4_K : DType::Q3_K;
    } else if (f == kQ3_K_L) {
      t = m.falcon ? DType::Q4_K : DType::Q5_K;
    } else if (f == kQ4_K_M) {
      if (m.falcon) {
        t = i_layer < n_layer / 16 ? DType::Q6_K : more ? DType::Q5_K : DType::Q4_K;
      } else if (more) {
        t = DType::Q6_K;
      }
    } else if (i_layer < n_layer / 8 && (f == kIQ4_NL || f == kIQ4_XS) && !overrides_.has_imatrix) {
      t = DType::Q5_K;
    } else if (f == kQ5_K_M && more) {
      t = DType::Q6_K;
    } else if (f == kQ4_K_S && !m.falcon && i_layer < n_layer / 8) {
      t = DType::Q5_K;
    } else if ((f == kQ4_0 || f == kQ5_0) && overrides_.has_imatrix && i_layer < n_layer / 8) {
      t = f == kQ4_0 ? DType::Q4_1 : DType::Q5_1;
    }
    ++i_ffn_down_;
  } else if (c == Category::AttnOutput) {
    if (!m.falcon) {
      if (m.n_expert == 8) {
        if (f == kQ2_K || f == kQ3_K_S || f == kQ3_K_M || f == kIQ4_NL || f == kQ4_K_S || f == kQ4_K_M || f == kIQ4_XS) t = DType::Q5_K;
      } else if (f == kQ2_K) {
        t = DType::Q3_K;
      } else if (f == kQ3_K_M) {
        t = DType::Q4_K;
      } else if (f == kQ3_K_L) {
        t = DType::Q5_K;
      }
    } else if (f == kQ3_K_L) {
      t = DType::Q4_K;
    }
  }
  return t;
}

}  // namespace ckpt
