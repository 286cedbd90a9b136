// load_model: picks the loader by what the path is.
#include "formats/ckpt_archive_source.h"
#include "formats/detect.h"
#include "formats/error.h"
#include "formats/gguf_split.h"
#include "formats/model_source.h"
#include "runtime/model_assemble.h"
#include "runtime/model_loaders.h"

namespace ckpt::runtime {

Weight weight_view(std::string name, DType dtype, const std::vector<uint64_t>& ne, const std::byte* data) {
  Weight w;
  w.name = std::move(name);
  w.dtype = dtype;
  w.cols = ne.empty() ? 1 : ne[0];
  w.rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) w.rows *= ne[i];
  w.row_bytes = dtype_bytes_for(dtype, w.cols).value_or(0);
  w.data = data;
  return w;
}

Model load_gguf_model(const std::string& path) { return load_gguf_set(std::make_shared<GgufSet>(open_gguf_set(path)), path); }

Model load_gguf_set(std::shared_ptr<const GgufSet> set, const std::string& path) {
  Model model;
  model.path = path;
  model.keep_alive.push_back(set);
  const GgufFile& main = set->main();
  refuse_gguf_adapter(main, "run");
  model.hp = hparams_from_kvs(main.kvs, path);
  if (auto vocab = tokenizer_from_gguf(main)) model.vocab = std::move(*vocab);
  assemble_model(model, [&](const std::string& name) -> std::optional<FoundTensor> {
    const GgufSet::Entry* e = set->find(name);
    if (!e) return std::nullopt;
    FoundTensor t;
    t.ne = e->info->ne;
    t.weight = weight_view(name, e->info->dtype, t.ne, e->shard->data(*e->info).data());
    t.file = e->shard->file->path();
    t.offset = e->info->info_offset_in_file;
    return t;
  });
  return model;
}

// A .ckpt archive runs as the model it was made from, its tensors read in place.
Model load_archive_model(const std::string& path) {
  if (auto set = open_archive_gguf(path)) return load_gguf_set(std::move(set), path);
  return load_hf_model(path);  // open_hf_model names what else the archive may hold
}

Model load_model(const std::string& path) {
  if (is_ckpt_archive_path(path)) return load_archive_model(path);
  switch (detect_file_kind(path)) {
    case FileKind::HfDirectory: return load_hf_model(path);
    case FileKind::Gguf: return load_gguf_model(path);
    case FileKind::LfsPointer: return load_gguf_model(path);  // the GGUF reader names the pointer and the fix
    case FileKind::Safetensors:
    case FileKind::SafetensorsIndex:
      throw Error(ErrorCode::Unsupported, path, Error::kNoOffset, "model",
                  "a bare safetensors file has no config: run the HF directory that holds it (config.json, tokenizer)");
    case FileKind::Unknown: break;
  }
  throw Error(ErrorCode::BadMagic, path, 0, "magic", "not a GGUF file or an HF checkpoint directory: nothing ckpt can run");
}

}  // namespace ckpt::runtime
