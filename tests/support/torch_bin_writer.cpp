#include "tests/support/torch_bin_writer.h"

#include <zlib.h>

#include <cstring>

namespace ckpt::test {

namespace {

void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::string unicode(const std::string& text) {  // BINUNICODE
  std::string s = "X";
  put(s, text.size(), 4);
  return s + text;
}

std::string int_op(uint64_t v) {
  std::string s;
  if (v < 256) {
    s = "K";
    put(s, v, 1);
  } else if (v < 65536) {
    s = "M";
    put(s, v, 2);
  } else {
    s = "J";
    put(s, v, 4);
  }
  return s;
}

std::string tuple_of(const std::vector<std::string>& items) {
  if (items.empty()) return ")";
  if (items.size() == 1) return items[0] + "\x85";
  if (items.size() == 2) return items[0] + items[1] + "\x86";
  if (items.size() == 3) return items[0] + items[1] + items[2] + "\x87";
  std::string s = "(";
  for (const auto& i : items) s += i;
  return s + "t";
}

const char* storage_class(DType t) {
  switch (t) {
    case DType::F16: return "HalfStorage";
    case DType::BF16: return "BFloat16Storage";
    case DType::F64: return "DoubleStorage";
    case DType::I64: return "LongStorage";
    case DType::I32: return "IntStorage";
    default: return "FloatStorage";
  }
}

}  // namespace

std::string state_dict_pickle(const std::vector<TorchTensorSpec>& tensors) {
  std::string p = "\x80\x02";
  p += "ccollections\nOrderedDict\n)R";  // OrderedDict()
  p += "(";
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    uint64_t numel = 1;
    for (auto d : t.shape) numel *= d;
    std::vector<std::string> size, stride;
    uint64_t s = 1;
    stride.resize(t.shape.size());
    for (size_t d = t.shape.size(); d-- > 0;) {
      stride[d] = int_op(s);
      s *= t.shape[d];
    }
    for (auto d : t.shape) size.push_back(int_op(d));
    p += unicode(t.name);
    p += "ctorch._utils\n_rebuild_tensor_v2\n";
    std::string args = "(";
    // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel) -> BINPERSID
    args += "(" + unicode("storage") + std::string("ctorch\n") + storage_class(t.dtype) + "\n" + unicode(std::to_string(i)) +
            unicode("cpu") + int_op(numel) + "tQ";
    args += int_op(0);
    args += tuple_of(size);
    args += tuple_of(stride);
    args += "\x89";                                 // requires_grad False
    args += "ccollections\nOrderedDict\n)R";         // backward_hooks
    args += "t";
    p += args + "R";
  }
  p += "u.";
  return p;
}

std::vector<std::byte> zip_archive(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    const uint64_t local = out.size();
    put(out, 0x04034b50, 4);
    put(out, 20, 2); put(out, 0, 2); put(out, 0, 2); put(out, 0, 2); put(out, 0, 2);
    put(out, crc, 4); put(out, data.size(), 4); put(out, data.size(), 4);
    put(out, name.size(), 2); put(out, 0, 2);
    out += name;
    out += data;
    put(central, 0x02014b50, 4);
    put(central, 20, 2); put(central, 20, 2); put(central, 0, 2); put(central, 0, 2); put(central, 0, 2); put(central, 0, 2);
    put(central, crc, 4); put(central, data.size(), 4); put(central, data.size(), 4);
    put(central, name.size(), 2); put(central, 0, 2); put(central, 0, 2); put(central, 0, 2); put(central, 0, 2);
    put(central, 0, 4); put(central, local, 4);
    central += name;
  }
  const uint64_t cd_offset = out.size();
  out += central;
  put(out, 0x06054b50, 4);
  put(out, 0, 2); put(out, 0, 2);
  put(out, entries.size(), 2); put(out, entries.size(), 2);
  put(out, central.size(), 4); put(out, cd_offset, 4); put(out, 0, 2);
  std::vector<std::byte> bytes(out.size());
  std::memcpy(bytes.data(), out.data(), out.size());
  return bytes;
}

std::vector<std::byte> torch_save_bytes(const std::vector<TorchTensorSpec>& tensors) {
  std::vector<std::pair<std::string, std::string>> entries = {{"archive/data.pkl", state_dict_pickle(tensors)}};
  for (size_t i = 0; i < tensors.size(); ++i) {
    entries.emplace_back("archive/data/" + std::to_string(i),
                         std::string(reinterpret_cast<const char*>(tensors[i].data.data()), tensors[i].data.size()));
  }
  entries.emplace_back("archive/version", "3\n");
  return zip_archive(entries);
}

std::vector<std::byte> torch_archive_with_pickle(const std::string& pickle) {
  return zip_archive({{"archive/data.pkl", pickle}, {"archive/version", "3\n"}});
}

}  // namespace ckpt::test
