#include "runtime/cuda/cuda_backend.h"

#include <fmt/format.h>

#include "formats/error.h"
#include "runtime/cuda/cuda_kernels.h"
#include "runtime/cuda/cuda_matvec.h"

namespace ckpt::runtime::cuda {

namespace {

bool has_kernel(const Weight& w) { return w.bnb4 || supports(w.dtype); }

Error no_kernel(const std::string& file, const Weight& w) {
  return Error(ErrorCode::Unsupported, file, Error::kNoOffset, w.name, fmt::format("{} has no CUDA kernel (run it with --device cpu)", w.type_name()));
}

}  // namespace

DeviceWeights::DeviceWeights() = default;

DeviceWeights::~DeviceWeights() {
  for (void* p : allocations_) device_free(p);
}

void* DeviceWeights::keep(size_t bytes) {
  void* p = device_alloc(bytes);
  allocations_.push_back(p);
  bytes_ += bytes;
  return p;
}

const DeviceMatrix& DeviceWeights::matrix(const Weight& w) {
  if (auto it = matrices_.find(&w); it != matrices_.end()) return *it->second;
  if (!has_kernel(w)) throw no_kernel("", w);
  auto m = std::make_unique<DeviceMatrix>();
  m->type = w.dtype;
  m->bnb4 = w.bnb4;
  m->bnb4_block = w.bnb4_block;
  m->rows = w.rows;
  m->cols = w.cols;
  m->row_bytes = w.row_bytes;
  try {
    void* data = keep(w.bytes());
    copy_to_device(data, w.data, w.bytes());
    m->data = static_cast<const uint8_t*>(data);
    if (w.bnb4) {
      m->absmax = vector(w.bnb4_absmax.data(), w.bnb4_absmax.size());
      m->code = vector(w.bnb4_code.data(), w.bnb4_code.size());
    }
  } catch (const Error& e) {
    throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, w.name, fmt::format("uploading {} bytes: {}", w.bytes(), e.what()));
  }
  return *matrices_.emplace(&w, std::move(m)).first->second;
}

const float* DeviceWeights::vector(const float* host, size_t n) {
  if (auto it = vectors_.find(host); it != vectors_.end()) return it->second;
  auto* p = static_cast<float*>(keep(n * sizeof(float)));
  copy_to_device(p, host, n * sizeof(float));
  vectors_.emplace(host, p);
  return p;
}

const float* DeviceWeights::vector(const std::vector<float>& v) { return v.empty() ? nullptr : vector(v.data(), v.size()); }

const Weight* first_unsupported_weight(const Model& model) {
  auto bad = [](const Weight& w) { return w.present() && !has_kernel(w); };
  for (const Weight* w : {&model.tok_embd, &model.pos_embd, &model.output}) {
    if (bad(*w)) return w;
  }
  for (const Layer& l : model.layers) {
    for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wqkv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (bad(*w)) return w;
    }
  }
  return nullptr;
}

namespace {

void release_device(float* p) { device_free(p); }

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const Model& model) {
    std::string why;
    if (!device_available(&why)) throw Error(ErrorCode::Unsupported, model.path, Error::kNoOffset, "device", why);
    if (const Weight* w = first_unsupported_weight(model)) throw no_kernel(model.path, *w);
    description_ = device_description();
    // Everything up front: generation should not pause to upload a layer.
    auto upload = [&](const Weight& w) {
      if (!w.present()) return;
      weights_.matrix(w);
      for (const LoraTerm& l : w.lora) lora_factors(w, l);
      if (w.dora_factor) weights_.vector(*w.dora_factor);
    };
    upload(model.tok_embd);
    upload(model.pos_embd);
    upload(model.output);
    weights_.vector(model.output_norm);
    weights_.vector(model.output_norm_b);
    for (const Layer& l : model.layers) {
      for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wqkv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) upload(*w);
      for (const std::vector<float>* v : {&l.attn_norm, &l.attn_norm_b, &l.ffn_norm, &l.ffn_norm_b, &l.attn_q_norm, &l.attn_k_norm,
                                          &l.attn_post_norm, &l.ffn_post_norm, &l.bq, &l.bk, &l.bv, &l.bqkv, &l.bo, &l.b_up, &l.b_down}) {
        weights_.vector(*v);
      }
    }
  }

  ~CudaBackend() override {
    device_free(k_cache_);
    device_free(v_cache_);
  }

  std::string name() const override { return fmt::format("cuda ({}; {:.2f} GB of weights resident)", description_, static_cast<double>(weights_.bytes()) / 1e9); }
  bool is_cpu() const override { return false; }

  Buffer buffer(size_t n) override { return Buffer(static_cast<float*>(device_alloc(std::max<size_t>(n, 1) * sizeof(float))), n, release_device); }

  void init_kv_cache(uint32_t n_layer, uint32_t n_ctx, size_t kv_dim, KvType type) override {
    n_ctx_ = n_ctx;
    kv_dim_ = kv_dim;
    f16_ = type == KvType::F16;
    const size_t bytes = size_t{n_layer} * n_ctx * kv_dim * (f16_ ? 2 : 4);
    device_free(k_cache_);
    device_free(v_cache_);
    k_cache_ = v_cache_ = nullptr;
    k_cache_ = device_alloc(bytes);
    v_cache_ = device_alloc(bytes);
  }

  void embed(const Weight& table, std::span<const int32_t> tokens, float scale, const Weight& positions, uint32_t pos0, float* x) override {
    const size_t n = tokens.size(), E = table.cols;
    ids_.assign(tokens.begin(), tokens.end());
    int32_t* ids = device_ids(n);
    copy_to_device(ids, ids_.data(), n * sizeof(int32_t));
    dequantize_rows(weights_.matrix(table), ids, n, x);
    if (scale != 1.0f) cuda::scale(x, n * E, scale);
    if (positions.present()) {
      for (size_t t = 0; t < n; ++t) ids_[t] = static_cast<int32_t>(pos0 + t);
      copy_to_device(ids, ids_.data(), n * sizeof(int32_t));
      Buffer& pos = scratch(pos_scratch_, n * E);
      dequantize_rows(weights_.matrix(positions), ids, n, pos.data());
      cuda::add(x, pos.data(), n * E);
    }
  }

  void norm(NormKind kind, const std::vector<float>& w, const std::vector<float>& b, float eps, const float* x, size_t n_rows, size_t dim,
            float* out) override {
    cuda::norm(kind == NormKind::Layer ? 1 : 0, weights_.vector(w), weights_.vector(b), eps, x, n_rows, dim, out);
  }

  void matmul(const Weight& w, const float* x, size_t n_tokens, float* y) override {
    cuda::matmul(weights_.matrix(w), x, n_tokens, y);
    for (const LoraTerm& l : w.lora) {
      const auto& [a, b] = lora_factors(w, l);
      Buffer& u = scratch(lora_scratch_, n_tokens * l.r);
      cuda::matmul(a, x, n_tokens, u.data());
      matmul_add(b, u.data(), n_tokens, y);
    }
    if (w.dora_factor) scale_rows(weights_.vector(*w.dora_factor), w.rows, y, n_tokens);
  }

  void add_bias(const std::vector<float>& b, float* y, size_t n_rows) override {
    if (!b.empty()) cuda::add_bias(weights_.vector(b), b.size(), y, n_rows);
  }

  void copy_columns(const float* src, size_t src_stride, float* dst, size_t dst_stride, size_t width, size_t n_rows) override {
    cuda::copy_columns(src, src_stride, dst, dst_stride, width, n_rows);
  }

  void rope(const RopeParams& p, float* x, size_t n_tokens, size_t n_heads, size_t head_dim, uint32_t pos0) override {
    cuda::rope(weights_.vector(*p.inv_freq), p.pairs, p.mscale, p.style == RopeStyle::Interleaved, x, n_tokens, n_heads, head_dim, pos0);
  }

  void attention(uint32_t il, const AttentionParams& p, const float* q, const float* k, const float* v, size_t n, uint32_t pos0,
                 float* out) override {
    const size_t layer = size_t{il} * n_ctx_ * kv_dim_;
    kv_store(k_cache_, f16_, k, n, kv_dim_, layer + size_t{pos0} * kv_dim_);
    kv_store(v_cache_, f16_, v, n, kv_dim_, layer + size_t{pos0} * kv_dim_);
    AttentionShape s;
    s.n_head = p.n_head;
    s.n_head_kv = p.n_head_kv;
    s.head_dim = p.head_dim;
    s.kv_dim = kv_dim_;
    s.scale = p.scale;
    s.softcap = p.softcap;
    s.window = p.window;
    Buffer& scores = scratch(scores_scratch_, n * p.n_head * (pos0 + n));
    const size_t elem = f16_ ? 2 : 4;
    cuda::attention(s, q, static_cast<const char*>(k_cache_) + layer * elem, static_cast<const char*>(v_cache_) + layer * elem, f16_, n, pos0,
                    scores.data(), out);
  }

  void gated(GateActivation act, const float* gate, size_t gate_stride, const float* up, size_t up_stride, float* out, size_t n_rows,
             size_t width) override {
    cuda::gated(act == GateActivation::Gelu ? 1 : 0, gate, gate_stride, up, up_stride, out, n_rows, width);
  }
  void gelu(float* x, size_t n) override { cuda::gelu(x, n); }
  void add(float* x, const float* y, size_t n) override { cuda::add(x, y, n); }
  void softcap(float* x, size_t n, float cap) override { cuda::softcap(x, n, cap); }

  std::span<const float> to_host(const float* p, size_t n, std::vector<float>& host) override {
    host.resize(n);
    copy_to_host(host.data(), p, n * sizeof(float));  // waits for the kernels before it
    return host;
  }
  void from_host(std::span<const float> host, float* p) override { copy_to_device(p, host.data(), host.size_bytes()); }

 private:
  struct LoraFactors {
    DeviceMatrix a, b;
  };

  const LoraFactors& lora_factors(const Weight& w, const LoraTerm& l) {
    if (auto it = lora_.find(&l); it != lora_.end()) return it->second;
    LoraFactors f;
    f.a.type = f.b.type = DType::F32;
    f.a.rows = l.r;
    f.a.cols = w.cols;
    f.a.row_bytes = w.cols * sizeof(float);
    f.a.data = reinterpret_cast<const uint8_t*>(weights_.vector(*l.a));
    f.b.rows = w.rows;
    f.b.cols = l.r;
    f.b.row_bytes = l.r * sizeof(float);
    f.b.data = reinterpret_cast<const uint8_t*>(weights_.vector(*l.b));
    return lora_.emplace(&l, f).first->second;
  }

  Buffer& scratch(Buffer& b, size_t n) {
    if (b.size() < n) b = buffer(n);
    return b;
  }

  int32_t* device_ids(size_t n) {
    if (ids_capacity_ < n) {
      ids_buffer_ = buffer(n);  // int32 and float have the same size
      ids_capacity_ = n;
    }
    return reinterpret_cast<int32_t*>(ids_buffer_.data());
  }

  DeviceWeights weights_;
  std::string description_;
  std::map<const LoraTerm*, LoraFactors> lora_;
  void* k_cache_ = nullptr;
  void* v_cache_ = nullptr;
  uint32_t n_ctx_ = 0;
  size_t kv_dim_ = 0;
  bool f16_ = true;
  std::vector<int32_t> ids_;
  Buffer ids_buffer_, pos_scratch_, lora_scratch_, scores_scratch_;
  size_t ids_capacity_ = 0;
};

static_assert(sizeof(int32_t) == sizeof(float));

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const Model& model) { return std::make_unique<CudaBackend>(model); }

}  // namespace ckpt::runtime::cuda
