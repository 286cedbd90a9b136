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
      {"Q4_K_S", 14, DType::Q4_K, "3.59G, +0.0992 ppl @ Llama-3-8B"},
      {"Q4_K_M", 15, DType::Q4_K, "3.80G, +0.0532 ppl @ Llama-3-8B"},
      {"Q4_K", 15, DType::Q4_K, "alias for Q4_K_M"},
      {"Q5_K_S", 16, DType::Q5_K, "4.33G, +0.0400 ppl @ Llama-3-8B"},
      {"Q5_K_M", 17, DType::Q5_K, "4.45G, +0.0122 ppl @ Llama-3-8B"},
      {"Q5_K", 17, DType::Q5_K, "alias for Q5_K_M"},
      {"Q6_K", 18, DType::Q6_K, "5.15G, +0.0008 ppl @ Llama-3-8B"},
      {"Q8_0", 7, DType::Q8_0, "6.70G, +0.0004 ppl @ Llama-3-8B"},
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
  return std::nullopt;
}

namespace {

enum class Category { Output, TokenEmbd, AttnV, AttnK, AttnQ, AttnOutput, FfnUp, FfnGate, FfnDown, Other };

Category category_of(const std::string& n) {
  if (n == "output.weight") return Category::Output;
  if (n == "token_embd.weight") return Category::TokenEmbd;
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
    case DType::Q4_K: f = DType::Q5_0; break;
    case DType::Q5_K: f = DType::Q5_1; break;
    case DType::Q6_K: f = DType::Q8_0; break;
    default: break;
  }
  return ncols % dtype_info(f).block_elems == 0 ? f : DType::F16;
}

}  // namespace

bool llama_cpp_order_less(const std::string& a, const std::string& b) {
  const int la = layer_of(a), lb = layer_of(b);
  return la != lb ? la < lb : a < b;
}

void sort_like_llama_cpp(std::vector<std::string>& names) { std::sort(names.begin(), names.end(), llama_cpp_order_less); }

bool QuantPolicy::allows_quantization(const std::string& name, size_t n_dims) {
  if (n_dims < 2) return false;
  if (!name.ends_with("weight")) return false;
  if (name.find("_norm.weight") != std::string::npos) return false;
  if (name.find("ffn_gate_inp.weight") != std::string::npos) return false;
  if (name == "position_embd.weight" || name == "token_types.weight") return false;
  return true;
}

QuantPolicy::QuantPolicy(const QuantType& type, bool pure, const std::vector<std::string>& names, uint64_t n_layer,
                         uint64_t n_gqa)
    : type_(type), pure_(pure), n_gqa_(n_gqa) {
  for (const auto& n : names) {
    const Category c = category_of(n);
    if (c == Category::AttnV) ++n_attention_wv_;
    if (c == Category::Output) tied_embeddings_ = false;
  }
  n_ffn_down_ = static_cast<int>(n_layer);
}

DType QuantPolicy::choose(const std::string& name, const std::vector<uint64_t>& ne) {
  DType t = type_.default_type;
  if (!is_block_quantized(t)) return t;  // F16/BF16/F32 "mixes" convert every tensor the same way
  const uint64_t ncols = ne.empty() ? 1 : ne[0];
  if (!pure_) {
    const Category c = category_of(name);
    const std::string& m = type_.name;
    const bool k_m = m == "Q4_K_M" || m == "Q4_K" || m == "Q5_K_M" || m == "Q5_K";
    if (c == Category::Output || (tied_embeddings_ && c == Category::TokenEmbd)) {
      if (ncols % dtype_info(t).block_elems != 0) {
        t = DType::Q8_0;
      } else if (t != DType::Q8_0) {
        t = DType::Q6_K;
      }
    } else if (c == Category::TokenEmbd) {
      // default type for the mixes ckpt offers
    } else if (c == Category::AttnV) {
      if (m == "IQ4_NL" && n_gqa_ >= 4) {
        t = DType::Q5_K;
      } else if (k_m && use_more_bits(i_attention_wv_, n_attention_wv_)) {
        t = DType::Q6_K;
      } else if (m == "Q4_K_S" && i_attention_wv_ < 4) {
        t = DType::Q5_K;
      }
      ++i_attention_wv_;
    } else if (c == Category::FfnDown) {
      const int i_layer = i_ffn_down_, n_layer = n_ffn_down_;
      if ((m == "Q4_K_M" || m == "Q4_K") && use_more_bits(i_layer, n_layer)) {
        t = DType::Q6_K;
      } else if (i_layer < n_layer / 8 && m == "IQ4_NL") {
        t = DType::Q5_K;
      } else if ((m == "Q5_K_M" || m == "Q5_K") && use_more_bits(i_layer, n_layer)) {
        t = DType::Q6_K;
      } else if (m == "Q4_K_S" && i_layer < n_layer / 8) {
        t = DType::Q5_K;
      }
      ++i_ffn_down_;
    }
  }
  return fallback(t, ncols);
}

QuantPolicy QuantPolicy::for_gguf(const QuantType& type, bool pure, const std::vector<std::string>& names, const GgufFile& file) {
  const std::string arch = file.architecture();
  const uint64_t n_head = file.u64_or(arch + ".attention.head_count", 1);
  const uint64_t n_head_kv = std::max<uint64_t>(1, file.u64_or(arch + ".attention.head_count_kv", n_head));
  return QuantPolicy(type, pure, names, file.u64_or(arch + ".block_count", 0), n_head / n_head_kv);
}

}  // namespace ckpt
