// Restricted unpickler for torch.save state dicts (see torch_bin.h for what is accepted).
#include "formats/torch_bin.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <filesystem>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "formats/byte_reader.h"
#include "formats/checked_math.h"
#include "formats/json_header.h"
#include "formats/lfs_pointer.h"
#include "formats/zip_reader.h"

namespace ckpt {

namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Global {
  std::string module, name;
};
struct Storage {
  DType dtype;
  std::string key;
};
struct Tensor {
  DType dtype;
  std::string key;
  uint64_t offset_elems;
  std::vector<uint64_t> shape;
};
struct Mark {};
struct List {
  std::vector<ValuePtr> items;
};
struct Dict {
  std::vector<std::pair<ValuePtr, ValuePtr>> items;
};
struct Value {
  std::variant<std::monostate, bool, int64_t, double, std::string, List, Dict, Global, Storage, Tensor, Mark> v;
  // Containers nested inside this one (a lower bound once memo sharing makes cycles). Capped so that
  // 200,000 nested lists in a 400 kB pickle cannot overflow the stack when the tree is destroyed.
  int depth = 0;
};

// A state dict nests module paths a few levels deep; tuples of shapes add one or two more.
constexpr int kMaxPickleDepth = 64;

ValuePtr make(auto x) { return std::make_shared<Value>(Value{std::move(x)}); }

// The storage classes torch.save references; their element type decides the tensor dtype.
std::optional<DType> storage_dtype(const Global& g) {
  static const std::map<std::string, DType> kStorages = {
      {"FloatStorage", DType::F32},  {"HalfStorage", DType::F16},  {"BFloat16Storage", DType::BF16},
      {"DoubleStorage", DType::F64}, {"LongStorage", DType::I64},  {"IntStorage", DType::I32},
      {"ShortStorage", DType::I16},  {"CharStorage", DType::I8},   {"ByteStorage", DType::U8},
      {"BoolStorage", DType::BOOL}};
  if (g.module != "torch") return std::nullopt;
  const auto it = kStorages.find(g.name);
  return it == kStorages.end() ? std::nullopt : std::optional(it->second);
}

bool is_allowed_global(const Global& g) {
  static const std::unordered_set<std::string> kAllowed = {
      "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_parameter", "collections OrderedDict",
      "torch._tensor _rebuild_from_type_v2"};
  return kAllowed.count(g.module + " " + g.name) || storage_dtype(g).has_value();
}

class Unpickler {
 public:
  Unpickler(std::span<const std::byte> pkl, std::string name) : r_(pkl, std::move(name)) {}
  // A hostile pickle can make containers hold each other through the memo (L1.append(L2), L2.append(L1));
  // shared_ptr cycles would leak, so every container is emptied when the unpickler goes.
  ~Unpickler() {
    for (const auto& c : containers_) {
      if (auto* l = std::get_if<List>(&c->v)) l->items.clear();
      if (auto* d = std::get_if<Dict>(&c->v)) d->items.clear();
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  ValuePtr run() {
    // Each opcode is at least one byte and creates at most one object, so objects are bounded by the
    // pickle's size; the tensor walk below is bounded by the objects (each dict visited once).
    // Memory: an object made by a 1-byte opcode can only stay on the stack (moving it into a container
    // costs another byte), so capping the stack at half the pickle's bytes keeps a 1 MB pickle to a few
    // hundred thousand objects (tens of MB), far above what a state dict ever stacks up.
    const uint64_t max_stack = r_.size() / 2 + 1024;
    while (true) {
      const uint64_t at = r_.offset();
      const auto op = r_.read<uint8_t>("pickle opcode");
      if (op == '.') break;
      step(op, at);
      if (stack_.size() > max_stack) {
        r_.fail_at(at, ErrorCode::TooLarge, "pickle", "more than " + std::to_string(max_stack) + " objects on the stack");
      }
    }
    if (stack_.size() != 1) r_.fail(ErrorCode::BadValueType, "pickle", "stack does not hold exactly one object at STOP");
    return stack_.back();
  }

 private:
  ValuePtr pop(std::string_view what) {
    if (stack_.empty()) r_.fail(ErrorCode::BadValueType, "pickle", std::string("stack underflow in ") + std::string(what));
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr& top(std::string_view what) {
    if (stack_.empty()) r_.fail(ErrorCode::BadValueType, "pickle", std::string("stack underflow in ") + std::string(what));
    return stack_.back();
  }
  std::vector<ValuePtr> pop_to_mark(std::string_view what) {
    for (size_t i = stack_.size(); i-- > 0;) {
      if (std::holds_alternative<Mark>(stack_[i]->v)) {
        std::vector<ValuePtr> items(stack_.begin() + static_cast<ptrdiff_t>(i) + 1, stack_.end());
        stack_.resize(i);
        return items;
      }
    }
    r_.fail(ErrorCode::BadValueType, "pickle", std::string("no MARK for ") + std::string(what));
  }
  std::string read_line(std::string_view field) {
    std::string s;
    while (true) {
      const char c = static_cast<char>(r_.read<uint8_t>(field));
      if (c == '\n') return s;
      if (s.size() > 256) r_.fail(ErrorCode::TooLarge, field, "line too long");
      s += c;
    }
  }
  void push_global(Global g, uint64_t at) {
    if (!is_allowed_global(g)) {
      r_.fail_at(at, ErrorCode::Unsupported, "pickle global",
                 "refusing to load '" + g.module + "." + g.name +
                     "': only tensor-rebuild globals are allowed (a pickle can run code; ckpt never does)");
    }
    stack_.push_back(make(std::move(g)));
  }
  int64_t as_int(const ValuePtr& v, std::string_view what) {
    if (const auto* i = std::get_if<int64_t>(&v->v)) return *i;
    r_.fail(ErrorCode::BadValueType, "pickle", std::string("expected an integer for ") + std::string(what));
  }
  std::vector<uint64_t> as_dims(const ValuePtr& v, std::string_view what) {
    const auto* l = std::get_if<List>(&v->v);
    if (!l) r_.fail(ErrorCode::BadValueType, "pickle", std::string("expected a tuple for ") + std::string(what));
    std::vector<uint64_t> out;
    for (const auto& item : l->items) {
      const int64_t d = as_int(item, what);
      if (d < 0) r_.fail(ErrorCode::BadShape, "pickle", "negative dimension");
      out.push_back(static_cast<uint64_t>(d));
    }
    return out;
  }

  ValuePtr rebuild_tensor(const std::vector<ValuePtr>& args, uint64_t at) {
    if (args.size() < 4) r_.fail_at(at, ErrorCode::BadValueType, "_rebuild_tensor_v2", "needs at least 4 arguments");
    const auto* storage = std::get_if<Storage>(&args[0]->v);
    if (!storage) r_.fail_at(at, ErrorCode::BadValueType, "_rebuild_tensor_v2", "first argument is not a storage");
    const int64_t offset = as_int(args[1], "storage offset");
    const auto shape = as_dims(args[2], "size");
    const auto stride = as_dims(args[3], "stride");
    if (offset < 0 || stride.size() != shape.size()) r_.fail_at(at, ErrorCode::BadShape, "_rebuild_tensor_v2", "bad offset or stride");
    // Only contiguous (row-major) tensors: what save_pretrained writes. Others would need a copy.
    uint64_t expected = 1;
    for (size_t i = shape.size(); i-- > 0;) {
      if (shape[i] != 1 && stride[i] != expected) {
        r_.fail_at(at, ErrorCode::Unsupported, "_rebuild_tensor_v2", "non-contiguous tensor (strides do not match the shape)");
      }
      const auto next = checked_mul(expected, shape[i]);
      if (!next) r_.fail_at(at, ErrorCode::Overflow, "_rebuild_tensor_v2", "size overflows");
      expected = *next;
    }
    return make(Tensor{storage->dtype, storage->key, static_cast<uint64_t>(offset), shape});
  }

  void reduce(uint64_t at) {
    const auto args_v = pop("REDUCE");
    const auto callable = pop("REDUCE");
    const auto* g = std::get_if<Global>(&callable->v);
    const auto* args = std::get_if<List>(&args_v->v);
    if (!g || !args) r_.fail_at(at, ErrorCode::BadValueType, "pickle REDUCE", "callable is not an allowed global");
    const std::string full = g->module + "." + g->name;
    if (full == "torch._utils._rebuild_tensor_v2") {
      stack_.push_back(rebuild_tensor(args->items, at));
    } else if (full == "torch._utils._rebuild_parameter" || full == "torch._tensor._rebuild_from_type_v2") {
      if (args->items.empty()) r_.fail_at(at, ErrorCode::BadValueType, full, "no tensor argument");
      stack_.push_back(full == "torch._utils._rebuild_parameter" ? args->items[0] : args->items.size() > 1 ? args->items[1] : args->items[0]);
    } else if (full == "collections.OrderedDict") {
      stack_.push_back(track(make(Dict{})));
    } else {
      r_.fail_at(at, ErrorCode::Unsupported, "pickle REDUCE", "refusing to call '" + full + "'");
    }
  }

  void persistent_load(uint64_t at) {
    const auto pid = pop("BINPERSID");
    const auto* t = std::get_if<List>(&pid->v);
    if (!t || t->items.size() < 3) r_.fail_at(at, ErrorCode::BadValueType, "pickle persistent id", "not a storage tuple");
    const auto* kind = std::get_if<std::string>(&t->items[0]->v);
    const auto* type = std::get_if<Global>(&t->items[1]->v);
    const auto* key = std::get_if<std::string>(&t->items[2]->v);
    if (!kind || *kind != "storage" || !type || !key) r_.fail_at(at, ErrorCode::BadValueType, "pickle persistent id", "not a storage tuple");
    const auto dtype = storage_dtype(*type);
    if (!dtype) r_.fail_at(at, ErrorCode::Unsupported, "pickle persistent id", "unknown storage type " + type->name);
    stack_.push_back(make(Storage{*dtype, *key}));
  }

  void step(uint8_t op, uint64_t at) {
    switch (op) {
      case 0x80: r_.read<uint8_t>("pickle protocol"); return;                     // PROTO
      case 0x95: r_.read<uint64_t>("pickle frame"); return;                        // FRAME
      case '}': stack_.push_back(track(make(Dict{}))); return;                     // EMPTY_DICT
      case ']': case ')': stack_.push_back(track(make(List{}))); return;           // EMPTY_LIST / EMPTY_TUPLE
      case '(': stack_.push_back(make(Mark{})); return;                            // MARK
      case 't': push_list(pop_to_mark("TUPLE"), at); return;                       // TUPLE
      case 'l': push_list(pop_to_mark("LIST"), at); return;                        // LIST
      case 0x85: { auto a = pop("TUPLE1"); push_list({a}, at); return; }
      case 0x86: { auto b = pop("TUPLE2"), a = pop("TUPLE2"); push_list({a, b}, at); return; }
      case 0x87: { auto c = pop("TUPLE3"), b = pop("TUPLE3"), a = pop("TUPLE3"); push_list({a, b, c}, at); return; }
      case 'N': stack_.push_back(make(std::monostate{})); return;
      case 0x88: stack_.push_back(make(true)); return;
      case 0x89: stack_.push_back(make(false)); return;
      case 'J': stack_.push_back(make(int64_t{r_.read<int32_t>("BININT")})); return;
      case 'K': stack_.push_back(make(int64_t{r_.read<uint8_t>("BININT1")})); return;
      case 'M': stack_.push_back(make(int64_t{r_.read<uint16_t>("BININT2")})); return;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const uint8_t n = r_.read<uint8_t>("LONG1 length");
        if (n > 8) r_.fail_at(at, ErrorCode::TooLarge, "LONG1", "integer wider than 64 bits");
        const auto bytes = r_.read_bytes(n, "LONG1");
        uint64_t u = 0;
        for (size_t i = 0; i < n; ++i) u |= static_cast<uint64_t>(bytes[i]) << (8 * i);
        if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
        stack_.push_back(make(static_cast<int64_t>(u)));
        return;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const auto b = r_.read_bytes(8, "BINFLOAT");
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(b[i]);
        double d;
        std::memcpy(&d, &u, 8);
        stack_.push_back(make(d));
        return;
      }
      case 'X': stack_.push_back(make(std::string(r_.read_chars(r_.read<uint32_t>("BINUNICODE length"), "BINUNICODE")))); return;
      case 0x8c: stack_.push_back(make(std::string(r_.read_chars(r_.read<uint8_t>("SHORT_BINUNICODE length"), "SHORT_BINUNICODE")))); return;
      case 0x8d: stack_.push_back(make(std::string(r_.read_chars(r_.read<uint64_t>("BINUNICODE8 length"), "BINUNICODE8")))); return;
      case 'T': stack_.push_back(make(std::string(r_.read_chars(r_.read<uint32_t>("BINSTRING length"), "BINSTRING")))); return;
      case 'U': stack_.push_back(make(std::string(r_.read_chars(r_.read<uint8_t>("SHORT_BINSTRING length"), "SHORT_BINSTRING")))); return;
      case 'q': memo_[r_.read<uint8_t>("BINPUT")] = top("BINPUT"); return;
      case 'r': memo_[r_.read<uint32_t>("LONG_BINPUT")] = top("LONG_BINPUT"); return;
      case 0x94: memo_[memo_.size()] = top("MEMOIZE"); return;
      case 'h': case 'j': {
        const uint32_t idx = op == 'h' ? r_.read<uint8_t>("BINGET") : r_.read<uint32_t>("LONG_BINGET");
        const auto it = memo_.find(idx);
        if (it == memo_.end()) r_.fail_at(at, ErrorCode::NotFound, "pickle memo", "get of unset memo slot " + std::to_string(idx));
        stack_.push_back(it->second);
        return;
      }
      case 'c': {  // GLOBAL "module\nname\n"
        Global g;
        g.module = read_line("GLOBAL module");
        g.name = read_line("GLOBAL name");
        push_global(std::move(g), at);
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        const auto name = pop("STACK_GLOBAL"), module = pop("STACK_GLOBAL");
        const auto* n = std::get_if<std::string>(&name->v);
        const auto* m = std::get_if<std::string>(&module->v);
        if (!n || !m) r_.fail_at(at, ErrorCode::BadValueType, "STACK_GLOBAL", "module and name must be strings");
        push_global({*m, *n}, at);
        return;
      }
      case 'R': reduce(at); return;
      case 'Q': persistent_load(at); return;
      case 'b': pop("BUILD"); return;  // OrderedDict/Parameter state: nothing ckpt needs
      case 's': {
        auto v = pop("SETITEM"), k = pop("SETITEM");
        auto& d = top("SETITEM");
        nest(*d, {k, v}, at);
        dict_of(d, at).items.emplace_back(k, v);
        return;
      }
      case 'u': {
        auto items = pop_to_mark("SETITEMS");
        if (items.size() % 2) r_.fail_at(at, ErrorCode::BadValueType, "SETITEMS", "odd number of items");
        auto& top_value = top("SETITEMS");
        nest(*top_value, items, at);
        auto& d = dict_of(top_value, at);
        for (size_t i = 0; i < items.size(); i += 2) d.items.emplace_back(items[i], items[i + 1]);
        return;
      }
      case 'a': {
        auto v = pop("APPEND");
        auto& l = top("APPEND");
        nest(*l, {v}, at);
        list_of(l, at).items.push_back(v);
        return;
      }
      case 'e': {
        auto items = pop_to_mark("APPENDS");
        auto& top_value = top("APPENDS");
        nest(*top_value, items, at);
        auto& l = list_of(top_value, at);
        l.items.insert(l.items.end(), items.begin(), items.end());
        return;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        r_.fail_at(at, ErrorCode::Unsupported, "pickle opcode", std::string("opcode ") + hex + " is not allowed in a state dict");
      }
    }
  }
  // Raises `container`'s depth above its new members'; refuses nesting past the cap.
  void nest(Value& container, const std::vector<ValuePtr>& members, uint64_t at) {
    for (const auto& m : members) {
      if (m.get() == &container) r_.fail_at(at, ErrorCode::TooDeep, "pickle", "a container holds itself");
      container.depth = std::max(container.depth, m->depth + 1);
    }
    if (container.depth > kMaxPickleDepth) {
      r_.fail_at(at, ErrorCode::TooDeep, "pickle",
                 "objects nested deeper than " + std::to_string(kMaxPickleDepth) + " levels");
    }
  }
  void push_list(std::vector<ValuePtr> items, uint64_t at) {
    auto list = track(make(List{}));
    nest(*list, items, at);
    std::get<List>(list->v).items = std::move(items);
    stack_.push_back(std::move(list));
  }
  Dict& dict_of(ValuePtr& v, uint64_t at) {
    auto* d = std::get_if<Dict>(&v->v);
    if (!d) r_.fail_at(at, ErrorCode::BadValueType, "pickle", "SETITEM on a non-dict");
    return *d;
  }
  List& list_of(ValuePtr& v, uint64_t at) {
    auto* l = std::get_if<List>(&v->v);
    if (!l) r_.fail_at(at, ErrorCode::BadValueType, "pickle", "APPEND on a non-list");
    return *l;
  }

  // Every List and Dict made, for the destructor. Objects are bounded by the pickle's size (each opcode
  // makes at most one).
  ValuePtr track(ValuePtr v) {
    containers_.push_back(v);
    return v;
  }

  ByteReader r_;
  std::vector<ValuePtr> containers_;
  std::vector<ValuePtr> stack_;
  std::map<uint64_t, ValuePtr> memo_;  // a map: memo indexes come from the file
};

// Walks the state dict. A dict reached twice is refused: torch.save never shares one, and a memo
// fan-out (each level holding the same dict ten times, "billion laughs") would otherwise make a 5 kB
// file name 10^8 tensors.
void collect_tensors(const Value& v, const std::string& prefix, int depth, const std::string& path,
                     std::vector<std::pair<std::string, Tensor>>& out, std::unordered_set<const Value*>& visited) {
  if (depth > 8) throw Error(ErrorCode::TooDeep, path, Error::kNoOffset, "data.pkl", "state dict nested too deeply");
  if (!visited.insert(&v).second) {
    throw Error(ErrorCode::DuplicateName, path, Error::kNoOffset, "data.pkl",
                "the same dict appears twice in the state dict (memo fan-out)");
  }
  const auto* d = std::get_if<Dict>(&v.v);
  if (!d) throw Error(ErrorCode::BadValueType, path, Error::kNoOffset, "data.pkl", "top-level object is not a dict");
  for (const auto& [k, val] : d->items) {
    const auto* key = std::get_if<std::string>(&k->v);
    if (!key) continue;
    const std::string name = prefix.empty() ? *key : prefix + "." + *key;
    if (const auto* t = std::get_if<Tensor>(&val->v)) {
      out.emplace_back(name, *t);
    } else if (std::holds_alternative<Dict>(val->v)) {
      collect_tensors(*val, name, depth + 1, path, out, visited);
    }
  }
}

}  // namespace

TorchBinFile read_torch_bin(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  throw_if_lfs_pointer(file->bytes(), path);
  if (!looks_like_zip(file->bytes())) {
    throw Error(ErrorCode::BadMagic, path, 0, "magic",
                "not a ZIP-based torch.save file (legacy tar/raw pickle checkpoints are not supported)");
  }
  const ZipReader zip(file);
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip.entries()) {
    if (e.name.ends_with("/data.pkl") || e.name == "data.pkl") pkl = &e;
  }
  if (!pkl) throw Error(ErrorCode::NotFound, path, Error::kNoOffset, "data.pkl", "archive has no data.pkl");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
  std::vector<std::byte> scratch;
  // data.pkl of a state dict holds names and shapes: a few MB even for 100B-parameter models.
  const auto pkl_bytes = zip.read(*pkl, scratch, uint64_t{256} << 20);
  Unpickler unpickler(pkl_bytes, path + ":" + pkl->name);  // alive until the tensors are collected
  const auto root = unpickler.run();
  std::vector<std::pair<std::string, Tensor>> found;
  std::unordered_set<const Value*> visited;
  collect_tensors(*root, "", 0, path, found, visited);
  std::unordered_set<std::string> names;
  for (const auto& [name, t] : found) {
    if (!names.insert(name).second) {
      throw Error(ErrorCode::DuplicateName, path, pkl->data_offset, "tensor '" + name + "'", "appears twice in data.pkl");
    }
  }

  TorchBinFile out;
  out.path = path;
  out.file = file;
  for (auto& [name, t] : found) {
    const ZipEntry* storage = zip.find(prefix + "data/" + t.key);
    if (!storage) throw Error(ErrorCode::NotFound, path, Error::kNoOffset, "tensor '" + name + "'", "storage data/" + t.key + " missing");
    if (storage->method != 0) {
      throw Error(ErrorCode::Unsupported, path, storage->data_offset, "tensor '" + name + "'", "compressed storages are not supported");
    }
    const uint64_t elem = dtype_info(t.dtype).block_bytes;
    const auto numel = shape_numel(t.shape);
    const auto begin = checked_mul(t.offset_elems, elem);
    const auto n_bytes = numel ? checked_mul(*numel, elem) : std::nullopt;
    const auto end = begin && n_bytes ? checked_add(*begin, *n_bytes) : std::nullopt;
    if (!end || *end > storage->size) {
      throw Error(ErrorCode::Truncated, path, storage->data_offset, "tensor '" + name + "'",
                  "needs bytes beyond its storage of " + std::to_string(storage->size) + " bytes");
    }
    out.tensors.push_back({name, t.dtype, t.shape, file->bytes().subspan(storage->data_offset + *begin, *n_bytes)});
  }
  return out;
}

TorchBinFile read_torch_bin(const std::string& path) { return read_torch_bin(MappedFile::open(path)); }

std::vector<TorchBinFile> read_torch_bin_index(const std::string& index_path) {
  const auto index_file = MappedFile::open(index_path);
  const std::string_view text(reinterpret_cast<const char*>(index_file->bytes().data()), index_file->size());
  const auto json = parse_json_strictly(text, index_path, 0, "index");
  const auto map = json.find("weight_map");
  if (!json.is_object() || map == json.end() || !map->is_object()) {
    throw Error(ErrorCode::BadJson, index_path, 0, "weight_map", "missing or not an object");
  }
  std::map<std::string, bool> files;
  std::unordered_map<std::string, std::string> shard_of;  // tensor -> the shard the index names
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string()) throw Error(ErrorCode::BadJson, index_path, locate_json_key(text, tensor, 0), "weight_map", "value is not a string");
    const auto& name = file.get_ref<const std::string&>();
    if (name.empty() || name.find('/') != std::string::npos || name == "..") {
      throw Error(ErrorCode::BadPath, index_path, locate_json_key(text, tensor, 0), "weight_map", "'" + name + "' is not a plain file name");
    }
    files[name] = true;
    shard_of.emplace(tensor, name);
  }
  std::vector<TorchBinFile> out;
  const auto dir = std::filesystem::path(index_path).parent_path();
  for (const auto& [name, _] : files) {
    out.push_back(read_torch_bin((dir / name).string()));
    // The index is the authority: a tensor must sit in the shard it names, so a second copy in
    // another shard (which one would a reader take?) is refused instead of silently picked.
    for (const auto& t : out.back().tensors) {
      const auto it = shard_of.find(t.name);
      if (it == shard_of.end() || it->second != name) {
        throw Error(it == shard_of.end() ? ErrorCode::NotFound : ErrorCode::DuplicateName, out.back().path,
                    Error::kNoOffset, "tensor '" + t.name + "'",
                    it == shard_of.end() ? "is in this shard but the index does not list it"
                                         : "is in this shard but the index assigns it to '" + it->second + "'");
      }
    }
  }
  std::unordered_set<std::string> present;
  for (const auto& f : out) {
    for (const auto& t : f.tensors) present.insert(t.name);
  }
  for (const auto& [tensor, name] : shard_of) {
    if (!present.count(tensor)) {
      throw Error(ErrorCode::NotFound, index_path, locate_json_key(text, tensor, 0), "weight_map '" + tensor + "'",
                  "tensor is not in shard '" + name + "'");
    }
  }
  return out;
}

}  // namespace ckpt
