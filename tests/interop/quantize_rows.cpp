// Block-level oracle check against ggml itself. Two verbs:
//   quantize_rows gen N_ROWS N_PER_ROW SEED VALUES.f32 IMATRIX.f32   deterministic rows with the cases that
//       trip quantizers (zeros, constants, one outlier, denormal-small, huge, mixed signs) and a positive
//       importance row per column
//   quantize_rows encode TYPE N_PER_ROW VALUES.f32 OUT [IMATRIX.f32] ckpt's quantizer (weighted per row
//       when an importance file is given)
//   quantize_rows decode TYPE N BLOCKS OUT.f32                       ckpt's dequantizer
// The peer's `quantize-rows` verb runs ggml_quantize_chunk on the same files; the bytes must be equal.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "formats/dtype.h"
#include "quantize/quantize.h"

namespace {

std::vector<float> read_floats(const char* path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<float> v(static_cast<size_t>(in.tellg()) / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return v;
}

void write_bytes(const char* path, const void* data, size_t n) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

int gen(size_t rows, size_t n, unsigned seed, const char* values_path, const char* imatrix_path) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(rows * n);
  for (size_t r = 0; r < rows; ++r) {
    float* row = v.data() + r * n;
    const float scale = std::pow(10.0f, static_cast<float>(static_cast<int>(r % 7) - 3));  // 1e-3 .. 1e3
    for (size_t i = 0; i < n; ++i) row[i] = normal(rng) * scale;
    switch (r % 11) {
      case 1: for (size_t i = 0; i < n; ++i) row[i] = 0; break;
      case 2: for (size_t i = 0; i < n; ++i) row[i] = 0.25f; break;
      case 3: for (size_t i = 0; i < n; ++i) row[i] = -3.0f; break;
      case 4: row[n / 3] = 40.0f * scale; break;                                    // one outlier
      case 5: for (size_t i = 0; i < n; ++i) row[i] = normal(rng) * 1e-20f; break;  // below GROUP_MAX_EPS
      case 6: for (size_t i = 0; i < n; i += 2) row[i] = 0; break;                  // half zeros
      case 7: for (size_t i = 0; i < n; ++i) row[i] = std::fabs(row[i]); break;     // all positive
      case 8: for (size_t i = 0; i < n; ++i) row[i] = -std::fabs(row[i]); break;    // all negative
      case 9: for (size_t i = 0; i < n; ++i) row[i] = static_cast<float>(static_cast<int>(i % 9) - 4); break;
      default: break;
    }
  }
  std::vector<float> importance(n);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) importance[i] = i % 17 == 0 ? 0.0f : std::exp(4.0f * u(rng) - 2.0f);
  write_bytes(values_path, v.data(), v.size() * 4);
  write_bytes(imatrix_path, importance.data(), importance.size() * 4);
  return 0;
}

int encode(const char* type_name, size_t n, const char* values_path, const char* out_path, const char* imatrix_path) {
  const auto type = ckpt::dtype_from_name(type_name);
  if (!type || !ckpt::can_quantize_to(*type)) {
    std::fprintf(stderr, "quantize_rows: cannot encode %s\n", type_name);
    return 2;
  }
  const auto v = read_floats(values_path);
  const size_t rows = v.size() / n;
  const uint64_t row_bytes = *ckpt::dtype_bytes_for(*type, n);
  std::vector<std::byte> out(rows * row_bytes);
  if (imatrix_path) {
    const auto importance = read_floats(imatrix_path);
    for (size_t r = 0; r < rows; ++r) {
      ckpt::encode_row_weighted(*type, std::span(v).subspan(r * n, n), importance, std::span(out).subspan(r * row_bytes, row_bytes));
    }
  } else {
    ckpt::encode_from_f32(*type, v, out);
  }
  write_bytes(out_path, out.data(), out.size());
  return 0;
}

int decode(const char* type_name, size_t n, const char* blocks_path, const char* out_path) {
  const auto type = ckpt::dtype_from_name(type_name);
  if (!type || !ckpt::can_dequantize_from(*type)) return 2;
  std::ifstream in(blocks_path, std::ios::binary);
  std::vector<std::byte> blocks(*ckpt::dtype_bytes_for(*type, n));
  in.read(reinterpret_cast<char*>(blocks.data()), static_cast<std::streamsize>(blocks.size()));
  std::vector<float> v(n);
  ckpt::decode_to_f32(*type, blocks, v);
  write_bytes(out_path, v.data(), v.size() * 4);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string verb = argc > 1 ? argv[1] : "";
  if (verb == "gen" && argc == 7) {
    return gen(std::strtoul(argv[2], nullptr, 10), std::strtoul(argv[3], nullptr, 10), static_cast<unsigned>(std::atoi(argv[4])), argv[5], argv[6]);
  }
  if (verb == "encode" && (argc == 6 || argc == 7)) return encode(argv[2], std::strtoul(argv[3], nullptr, 10), argv[4], argv[5], argc == 7 ? argv[6] : nullptr);
  if (verb == "decode" && argc == 6) return decode(argv[2], std::strtoul(argv[3], nullptr, 10), argv[4], argv[5]);
  std::fprintf(stderr, "usage: quantize_rows gen N_ROWS N_PER_ROW SEED VALUES IMATRIX | encode TYPE N_PER_ROW VALUES OUT [IMATRIX] | decode TYPE N BLOCKS OUT\n");
  return 2;
}
