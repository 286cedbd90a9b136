#include "formats/llama2c.h"

#include <cstring>

#include "formats/byte_reader.h"
#include "formats/checked_math.h"
#include "formats/error.h"

namespace ckpt {

namespace {

constexpr const char* kHeaderNames[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};

struct Planned {
  const char* name;
  std::vector<uint64_t> shape;
};

// The arrays' shapes; checked products so a hostile header cannot overflow.
std::optional<std::vector<Planned>> plan_arrays(const Llama2cConfig& c) {
  const uint64_t head = c.dim / c.n_heads, kv_dim = c.n_kv_heads * head, L = c.n_layers;
  std::vector<Planned> arrays = {
      {"token_embedding", {c.vocab_size, c.dim}}, {"rms_att", {L, c.dim}},   {"wq", {L, c.dim, c.dim}},
      {"wk", {L, kv_dim, c.dim}},                 {"wv", {L, kv_dim, c.dim}}, {"wo", {L, c.dim, c.dim}},
      {"rms_ffn", {L, c.dim}},                    {"w1", {L, c.hidden_dim, c.dim}}, {"w2", {L, c.dim, c.hidden_dim}},
      {"w3", {L, c.hidden_dim, c.dim}},           {"rms_final", {c.dim}},    {"freq_cis", {c.seq_len, head}}};
  if (!c.shared_classifier) arrays.push_back({"wcls", {c.vocab_size, c.dim}});
  return arrays;
}

std::optional<Llama2cConfig> parse_header(std::span<const std::byte> bytes, uint64_t* bad_field) {
  if (bytes.size() < 28) return std::nullopt;
  int32_t v[7];
  std::memcpy(v, bytes.data(), sizeof v);
  for (int i = 0; i < 7; ++i) {
    if (v[i] == 0 || (v[i] < 0 && i != 5) || v[i] == INT32_MIN) {
      if (bad_field) *bad_field = static_cast<uint64_t>(i);
      return std::nullopt;
    }
  }
  Llama2cConfig c{static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1]), static_cast<uint64_t>(v[2]),
                  static_cast<uint64_t>(v[3]), static_cast<uint64_t>(v[4]), static_cast<uint64_t>(v[5] < 0 ? -v[5] : v[5]),
                  static_cast<uint64_t>(v[6]), v[5] > 0};
  return c;
}

std::optional<uint64_t> total_bytes(const std::vector<Planned>& arrays) {
  uint64_t pos = 28;
  for (const auto& a : arrays) {
    const auto n = checked_product(a.shape);
    const auto bytes = n ? checked_mul(*n, 4) : std::nullopt;
    const auto next = bytes ? checked_add(pos, *bytes) : std::nullopt;
    if (!next) return std::nullopt;
    pos = *next;
  }
  return pos;
}

}  // namespace

const Llama2cArray& Llama2cFile::array(const std::string& name) const {
  for (const auto& a : arrays) {
    if (a.name == name) return a;
  }
  throw Error(ErrorCode::NotFound, file->path(), Error::kNoOffset, name, "no such llama2.c array");
}

bool looks_like_llama2c(std::span<const std::byte> bytes, uint64_t file_size) {
  const auto c = parse_header(bytes, nullptr);
  if (!c || c->dim % c->n_heads != 0 || c->n_heads % c->n_kv_heads != 0) return false;
  const auto total = total_bytes(*plan_arrays(*c));
  return total && *total == file_size;
}

Llama2cFile read_llama2c(std::shared_ptr<const MappedFile> file) {
  ByteReader r(file->bytes(), file->path());
  if (r.size() < 28) r.fail(ErrorCode::Truncated, "header", "a llama2.c header is 28 bytes");
  uint64_t bad = 0;
  const auto c = parse_header(file->bytes(), &bad);
  if (!c) {
    int32_t v;
    std::memcpy(&v, file->bytes().data() + 4 * bad, 4);
    r.fail_at(4 * bad, ErrorCode::BadShape, kHeaderNames[bad],
              "invalid value " + std::to_string(v) + " (not a llama2.c checkpoint?)");
  }
  if (c->dim % c->n_heads != 0 || (c->dim / c->n_heads) % 2 != 0) r.fail_at(12, ErrorCode::BadShape, "n_heads", "must divide dim into even heads");
  if (c->n_heads % c->n_kv_heads != 0) r.fail_at(16, ErrorCode::BadShape, "n_kv_heads", "must divide n_heads");
  const auto planned = *plan_arrays(*c);
  const auto total = total_bytes(planned);
  if (!total) r.fail_at(0, ErrorCode::Overflow, "header", "array sizes overflow");
  if (*total != file->size()) {
    r.fail_at(std::min<uint64_t>(*total, file->size()), ErrorCode::IncompleteBuffer, "weights",
              "header implies " + std::to_string(*total) + " bytes, file has " + std::to_string(file->size()));
  }
  Llama2cFile out;
  out.file = file;
  out.config = *c;
  uint64_t pos = 28;
  for (const auto& a : planned) {
    const uint64_t n = *checked_product(a.shape) * 4;
    out.arrays.push_back({a.name, a.shape, file->bytes().subspan(pos, n)});
    pos += n;
  }
  return out;
}

}  // namespace ckpt
