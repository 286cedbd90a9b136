// The YAML front matter of a Hugging Face model card (README.md) as GGUF general.* keys, as
// convert_hf_to_gguf does through gguf-py's Metadata (load_model_card, apply_metadata_heuristic):
//   name / model_name -> general.name        author / model_creator -> general.author
//   version, organization, description -> general.*    license (a list joined by ",") -> general.license
//   license_name / license_link -> general.license.name / .link
//   tags (+ pipeline_tag) -> general.tags    language / languages -> general.languages
//   base_model (a hub id, a URL, or a list) -> general.base_model.count, .{i}.name / .organization / .repo_url
//   datasets / dataset -> general.dataset.count, .{i}.name / .organization / .repo_url
// Only the YAML a model card uses is read: top-level `key: value`, quoted scalars, `[a, b]` and `- item`
// lists; anything else (nested maps, anchors) is skipped, never an error. Bounded: at most 64 KiB of
// front matter, 1024 list items, 4 KiB per value; text that is not UTF-8 is dropped.
#pragma once

#include <string>
#include <vector>

#include "formats/gguf.h"

namespace ckpt {

struct ModelCard {
  std::string name;          // empty when the card has none
  std::vector<GgufKv> kvs;   // general.* keys other than general.name, in gguf-py's order
};

ModelCard read_model_card(const std::string& readme_path);  // an absent file is an empty card
ModelCard parse_model_card(const std::string& text);

}  // namespace ckpt
