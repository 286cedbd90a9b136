// Where the forward pass computes. The model code (forward.cpp) is written once against this interface;
// a backend keeps the weights in their stored form where it computes (the CPU reads the mapped file,
// CUDA uploads each matrix once), owns the KV cache and the activation memory, and runs the operations.
// Every float* handed to an operation is the backend's own memory (from buffer()): host memory on the
// CPU, device memory on CUDA. Only to_host() brings values back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/model.h"

namespace ckpt::runtime {

// The KV cache's element type: f16 halves its memory (llama.cpp's default too); f32 keeps the
// attention inputs exact (the float64-reference tests use it).
enum class KvType { F16, F32 };

enum class NormKind { Rms, Layer };
enum class GateActivation { Silu, Gelu };

// One layer's rotation: pairs (2i, 2i+1) or (i, i + pairs) of every head turned by pos * inv_freq[i],
// cos and sin scaled by mscale. pairs == 0: no rotation (EXAONE 4's global layers).
struct RopeParams {
  uint32_t pairs = 0;
  const std::vector<float>* inv_freq = nullptr;
  float mscale = 1.0f;
  RopeStyle style = RopeStyle::Interleaved;
};

struct AttentionParams {
  size_t n_head = 0, n_head_kv = 0, head_dim = 0;
  float scale = 1.0f;    // applied to q.k
  float softcap = 0.0f;  // > 0: softcap * tanh(score / softcap) (Gemma 2)
  size_t window = 0;     // > 0: keys pos - window + 1 .. pos only (sliding-window layers)
};

// Backend memory for n floats; released by the backend that made it.
class Buffer {
 public:
  using Release = void (*)(float*);
  Buffer() = default;
  Buffer(float* data, size_t size, Release release) : data_(data, release), size_(size) {}
  float* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<float, Release> data_{nullptr, nullptr};
  size_t size_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // "cpu (4 threads, avx2+fma+f16c tiles and dots)", "cuda (NVIDIA H200, sm_90)".
  virtual std::string name() const = 0;
  virtual bool is_cpu() const = 0;

  // n floats of activation memory (contents undefined).
  virtual Buffer buffer(size_t n) = 0;
  // The KV cache: n_layer x n_ctx positions x kv_dim, keys and values.
  virtual void init_kv_cache(uint32_t n_layer, uint32_t n_ctx, size_t kv_dim, KvType type) = 0;

  // x[t] = row tokens[t] of `table` decoded to f32, times scale, plus row pos0 + t of `positions`
  // when it is present (GPT-2's learned positions). Token ids are checked by the caller.
  virtual void embed(const Weight& table, std::span<const int32_t> tokens, float scale, const Weight& positions, uint32_t pos0,
                     float* x) = 0;
  // Each of n_rows rows of `dim` values normalized and scaled by w (plus b for LayerNorm); w empty:
  // copied as it is. out may be x.
  virtual void norm(NormKind kind, const std::vector<float>& w, const std::vector<float>& b, float eps, const float* x, size_t n_rows,
                    size_t dim, float* out) = 0;
  // y[t * w.rows + r] = dot(row r of w, x[t]) for n_tokens rows of x, then the weight's LoRA terms and
  // DoRA factor.
  virtual void matmul(const Weight& w, const float* x, size_t n_tokens, float* y) = 0;
  // y[t] += b for n_rows rows of b.size() (nothing when b is empty).
  virtual void add_bias(const std::vector<float>& b, float* y, size_t n_rows) = 0;
  // dst[t * dst_stride + i] = src[t * src_stride + i] for i < width, t < n_rows.
  virtual void copy_columns(const float* src, size_t src_stride, float* dst, size_t dst_stride, size_t width, size_t n_rows) = 0;
  // Rotates every head of x [n_tokens][n_heads][head_dim] at positions pos0 + t.
  virtual void rope(const RopeParams& p, float* x, size_t n_tokens, size_t n_heads, size_t head_dim, uint32_t pos0) = 0;
  // Stores k and v (n_tokens x n_head_kv * head_dim) at positions pos0.. of layer il, then
  // out[t][h] = softmax(scale * q[t][h] . keys) . values over the keys causally visible from pos0 + t.
  virtual void attention(uint32_t il, const AttentionParams& p, const float* q, const float* k, const float* v, size_t n_tokens,
                         uint32_t pos0, float* out) = 0;
  // out[t * width + i] = up[t * up_stride + i] * act(gate[t * gate_stride + i]); out may be up.
  virtual void gated(GateActivation act, const float* gate, size_t gate_stride, const float* up, size_t up_stride, float* out,
                     size_t n_rows, size_t width) = 0;
  virtual void gelu(float* x, size_t n) = 0;              // tanh approximation, in place
  virtual void add(float* x, const float* y, size_t n) = 0;  // x += y
  virtual void softcap(float* x, size_t n, float cap) = 0;   // cap * tanh(x / cap), in place
  // n floats at p as host memory: p itself on the CPU, a copy into `host` elsewhere.
  virtual std::span<const float> to_host(const float* p, size_t n, std::vector<float>& host) = 0;
  // Copies host values into backend memory at p.
  virtual void from_host(std::span<const float> host, float* p) = 0;
};

// The CPU: AVX2 / AVX-512 kernels (the scalar references under set_kernel_choice(Reference)).
std::unique_ptr<Backend> make_cpu_backend(unsigned n_threads);

enum class Device { Cpu, Cuda, Auto };
// "cpu", "cuda", "auto"; throws Error(InvalidArgument) otherwise.
Device parse_device(std::string_view name);
// Auto: CUDA when this build has it, a device is present and every weight of `model` has a kernel;
// the CPU otherwise, with the reason in *note. Cuda: throws Error(Unsupported) saying why not.
std::unique_ptr<Backend> make_backend(Device device, const Model& model, unsigned n_threads, std::string* note = nullptr);

}  // namespace ckpt::runtime
