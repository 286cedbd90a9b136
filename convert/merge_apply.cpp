// The merge arithmetic of one tensor, as PEFT's get_delta_weight / merge define it:
//   delta = (B A) * scale (scale = alpha/r, or alpha/sqrt(r) with rsLoRA), transposed for Conv1D
//   (fan_in_fan_out) and for embeddings ((B A)^T with A [r, vocab], B [dim, r]);
//   DoRA: W' = m / ||W + delta||_row * (W + delta), the norm over the input dimension after the add;
//   LoRA bias: b += lora_B.bias * scale.
// B A is summed in f32 per adapter (as PEFT's fp32 matmul); W + sum(weight * delta) is accumulated in
// f64 and rounded once to f32.
#include <cmath>
#include <mutex>

#include <fmt/format.h>

#include "convert/lora_kernel.h"
#include "convert/merge_plan.h"
#include "formats/permute.h"
#include "formats/float_convert.h"
#include "formats/parallel.h"
#include "quantize/bnb4.h"
#include "quantize/quantize.h"
#include "quantize/row_stream.h"

namespace ckpt {

std::vector<float> tensor_values(const SourceTensor& t) { return decode_tensor_values(t, bounded_thread_count(0)); }

namespace {

std::vector<float> transposed(const std::vector<float>& v, uint64_t rows, uint64_t cols) {
  std::vector<float> out(v.size());
  for (uint64_t i = 0; i < rows; ++i) {
    for (uint64_t j = 0; j < cols; ++j) out[j * rows + i] = v[i * cols + j];
  }
  return out;
}

}  // namespace

// One adapter module prepared for the row loop: delta[o][i] = sum_k P[o][k] Q[k][i], times `scale`.
struct PreparedTerm {
  std::vector<float> p;  // [out, r]
  std::vector<float> q;  // [r, in]
  uint64_t r = 0;
  double scale = 1;      // alpha/r (or rsLoRA) times the user's weight
  std::vector<float> magnitude;
  const DeltaTerm* term = nullptr;
};

namespace {

PreparedTerm prepare(const DeltaTerm& t) {
  const LoraModule& m = *t.module;
  PreparedTerm p;
  p.term = &t;
  p.r = m.r;
  p.scale = m.scale * t.weight;
  std::vector<float> a = tensor_values(*m.a), b = tensor_values(*m.b);
  if (m.embedding) {  // A [r, vocab], B [dim, r]: delta[v][d] = sum_k A[k][v] B[d][k]
    p.p = transposed(a, m.r, m.a->shape[1]);
    p.q = transposed(b, m.b->shape[0], m.r);
  } else {
    p.p = std::move(b);
    p.q = std::move(a);
  }
  if (m.magnitude) p.magnitude = tensor_values(*m.magnitude);
  return p;
}

void permute_rows(std::vector<float>& v, uint64_t rows, TensorOp op, uint64_t heads) {
  if (reorders_rows(op)) v = permuted_rows(v, rows, op, heads, /*to_gguf=*/true);
}

bool is_half(DType t) { return t == DType::F16 || t == DType::BF16; }

// QLoRA's training base: dequant(NF4 with double quantization, blocks of 64) in the base's 16-bit dtype.
std::vector<float> nf4_roundtrip(const std::vector<float>& w, DType base_dtype) {
  const Bnb4Quantized q = quantize_bnb4(w, Bnb4Type::NF4, 64, /*double_quant=*/true);
  std::vector<float> out(w.size());
  dequantize_bnb4(q.packed, q.absmax, bnb4_code(Bnb4Type::NF4), 64, out);
  if (base_dtype == DType::BF16) {
    for (auto& v : out) v = bf16_to_f32(f32_to_bf16(v));
  } else if (base_dtype == DType::F16) {
    for (auto& v : out) v = f16_to_f32(f32_to_f16(v));
  }
  return out;
}

double distance(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return std::sqrt(s);
}

}  // namespace

std::vector<float> permuted_rows(const std::vector<float>& v, uint64_t rows, TensorOp op, uint64_t heads, bool to_gguf) {
  const uint64_t cols = rows ? v.size() / rows : 0;
  std::vector<float> out(v.size());
  for (uint64_t i = 0; i < rows; ++i) {
    const uint64_t src = to_gguf ? hf_row_for(op, i, rows, heads) : gguf_row_for(op, i, rows, heads);
    std::copy_n(v.begin() + static_cast<ptrdiff_t>(src * cols), cols, out.begin() + static_cast<ptrdiff_t>(i * cols));
  }
  return out;
}

void write_f32_rows(const std::vector<float>& values, uint64_t row_len, DType dtype, unsigned threads, ByteSink& sink) {
  RowStream s;
  s.src = std::as_bytes(std::span(values));
  s.src_dtype = DType::F32;
  s.out_dtype = dtype;
  s.row_len = row_len;
  s.n_rows = row_len ? values.size() / row_len : 0;
  stream_rows(s, threads, sink, nullptr);
}

RowMerger::RowMerger(const TensorRecipe& recipe) : recipe_(recipe) {
  for (const auto& t : recipe.terms) terms_.push_back(prepare(t));
}

RowMerger::~RowMerger() = default;

bool RowMerger::streamable(const TensorRecipe& r) {
  return !r.terms.empty() && !r.replacement && !r.nf4_roundtrip && r.bias_terms.empty() && !r.terms.front().transpose && !r.base->decode &&
         r.base->shape == r.shape && r.shape.size() == 2;
}

double RowMerger::delta_norm() const { return std::sqrt(sq_.load()); }

void RowMerger::apply(uint64_t g, std::span<float> row) const {
  const uint64_t cols = row.size();
  thread_local std::vector<float> s, before;
  thread_local std::vector<double> acc;
  before.assign(row.begin(), row.end());
  if (terms_.size() == 1 && terms_.front().magnitude.empty()) {
    // One plain LoRA: the row is updated in place by the kernel (f32, rounded as PEFT rounds).
    const PreparedTerm& t = terms_.front();
    const uint64_t o = t.term->adapter_row ? t.term->adapter_row(g) : g;
    lora_add_row(t.p.data() + o * t.r, t.r, t.q.data(), cols, static_cast<float>(t.scale), row.data());
  } else {
    s.resize(cols);
    acc.assign(row.begin(), row.end());
    const PreparedTerm* dora = nullptr;
    uint64_t dora_row = 0;
    for (const auto& t : terms_) {
      const uint64_t o = t.term->adapter_row ? t.term->adapter_row(g) : g;
      lora_row(t.p.data() + o * t.r, t.r, t.q.data(), cols, s.data());
      const float sc = static_cast<float>(t.scale);
      for (uint64_t i = 0; i < cols; ++i) acc[i] += static_cast<double>(s[i] * sc);
      if (!t.magnitude.empty()) {
        dora = &t;
        dora_row = o;
      }
    }
    if (dora) {
      double norm = 0;
      for (uint64_t i = 0; i < cols; ++i) norm += acc[i] * acc[i];
      const double factor = static_cast<double>(dora->magnitude[dora_row]) / std::sqrt(norm);
      for (uint64_t i = 0; i < cols; ++i) acc[i] *= factor;
    }
    for (uint64_t i = 0; i < cols; ++i) row[i] = static_cast<float>(acc[i]);
  }
  const double sq = squared_difference(row.data(), before.data(), cols);
  if (!std::isfinite(sq)) {
    for (uint64_t i = 0; i < cols; ++i) {
      if (!std::isfinite(row[i])) {
        std::string who;
        for (const auto& a : recipe_.adapter_names) who += (who.empty() ? "" : ", ") + a;
        throw Error(ErrorCode::BadValueType, who, Error::kNoOffset, "tensor '" + recipe_.name + "'",
                    fmt::format("the merged value at row {} column {} is {}; the adapter seems to be broken", g, i, row[i]));
      }
    }
  }
  sq_.fetch_add(sq);
}

std::vector<float> merged_values(const TensorRecipe& r, unsigned threads, MergedTensorReport& report) {
  std::vector<float> values;
  double sq_delta = 0;  // ||merged - base||^2
  if (r.replacement) {
    values = tensor_values(*r.replacement);
    if (r.replacement_op == TensorOp::Transpose && r.replacement->shape.size() == 2) {
      values = transposed(values, r.replacement->shape[0], r.replacement->shape[1]);
    }
    if (!r.shape.empty()) permute_rows(values, r.shape[0], r.replacement_op, r.replacement_heads);
    if (r.replacement_op == TensorOp::AddOne) apply_add_one(values, r.replacement->dtype, false);  // Gemma's norms
    const std::vector<float> base = tensor_values(*r.base);
    const double d = base.size() == values.size() ? distance(values, base) : -1;
    sq_delta = d >= 0 ? d * d : -1;
  } else {
    values = tensor_values(*r.base);
  }
  if (r.nf4_roundtrip) {
    const DType stored = r.base->decode ? r.base->stored_dtype : r.base->dtype;
    const std::vector<float> q = nf4_roundtrip(values, is_half(stored) ? stored : DType::F32);
    report.nf4_noise_ratio = distance(values, q);  // divided by ||delta|| below
    values = q;
  }

  if (!r.terms.empty()) {
    const bool transpose = r.terms.front().transpose;
    const uint64_t stored_rows = r.shape[0], stored_cols = r.shape.size() > 1 ? r.shape[1] : 1;
    if (transpose) values = transposed(values, stored_rows, stored_cols);
    const uint64_t rows = transpose ? stored_cols : stored_rows, cols = transpose ? stored_rows : stored_cols;
    const RowMerger merger(r);
    parallel_for(rows, threads, [&](size_t begin, size_t end) {
      for (size_t g = begin; g < end; ++g) merger.apply(g, std::span(values).subspan(g * cols, cols));
    });
    sq_delta += merger.delta_norm() * merger.delta_norm();
    if (transpose) values = transposed(values, rows, cols);
  }
  for (const auto& t : r.bias_terms) {
    const std::vector<float> bias = tensor_values(*t.module->bias);
    const double sc = t.module->scale * t.weight;
    for (uint64_t g = 0; g < values.size(); ++g) {
      const uint64_t o = t.adapter_row ? t.adapter_row(g) : g;
      const float before = values[g];
      values[g] = static_cast<float>(static_cast<double>(values[g]) + static_cast<double>(static_cast<float>(bias[o] * static_cast<float>(sc))));
      sq_delta += (static_cast<double>(values[g]) - before) * (static_cast<double>(values[g]) - before);
    }
  }
  report.delta_norm = sq_delta >= 0 ? std::sqrt(sq_delta) : -1;
  if (report.nf4_noise_ratio >= 0) report.nf4_noise_ratio = report.delta_norm > 0 ? report.nf4_noise_ratio / report.delta_norm : INFINITY;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      std::string who;
      for (const auto& a : r.adapter_names) who += (who.empty() ? "" : ", ") + a;
      throw Error(ErrorCode::BadValueType, who, Error::kNoOffset, "tensor '" + r.name + "'",
                  fmt::format("the merged value at element {} is {}; the adapter seems to be broken", i, values[i]));
    }
  }
  return values;
}

}  // namespace ckpt
