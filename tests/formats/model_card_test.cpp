// Model-card front matter to general.* keys, expectations worked out from gguf-py's Metadata rules
// (load_model_card, apply_metadata_heuristic, id_to_title) by hand.
#include <gtest/gtest.h>

#include <map>

#include "formats/model_card.h"

namespace ckpt {
namespace {

std::map<std::string, std::string> as_map(const ModelCard& card) {
  std::map<std::string, std::string> m;
  for (const auto& kv : card.kvs) {
    if (const auto* s = kv.value.as_string()) {
      m[kv.key] = *s;
    } else if (kv.value.is_array()) {
      std::string joined;
      for (const auto& item : kv.value.array().string_list()) joined += (joined.empty() ? "" : "|") + item;
      m[kv.key] = joined;
    } else {
      m[kv.key] = std::to_string(*kv.value.as_u64());
    }
  }
  return m;
}

TEST(ModelCard, FrontMatterBecomesGeneralKeys) {
  const std::string readme = R"(---
license: apache-2.0   # a comment
language:
- en
- fr
base_model: meta-llama/Llama-3.2-1B
tags: [text-generation, 'llama, tiny']
pipeline_tag: text-generation
datasets:
  - HuggingFaceH4/ultrachat_200k
  - https://huggingface.co/datasets/x
model_creator: "Jane \"J\" Doe"
name: Tiny Chat
widget:
  - text: "nested, skipped"
---
# Tiny Chat
license: not-front-matter
)";
  const ModelCard card = parse_model_card(readme);
  EXPECT_EQ(card.name, "Tiny Chat");
  const auto m = as_map(card);
  EXPECT_EQ(m.at("general.license"), "apache-2.0");
  EXPECT_EQ(m.at("general.author"), "Jane \"J\" Doe");
  EXPECT_EQ(m.at("general.languages"), "en|fr");
  EXPECT_EQ(m.at("general.tags"), "text-generation|llama, tiny|text-generation");
  EXPECT_EQ(m.at("general.base_model.count"), "1");
  EXPECT_EQ(m.at("general.base_model.0.name"), "Llama 3.2 1B");
  EXPECT_EQ(m.at("general.base_model.0.organization"), "Meta Llama");
  EXPECT_EQ(m.at("general.base_model.0.repo_url"), "https://huggingface.co/meta-llama/Llama-3.2-1B");
  EXPECT_EQ(m.at("general.dataset.count"), "2");
  EXPECT_EQ(m.at("general.dataset.0.name"), "Ultrachat_200K");  // str.title(): a letter after a digit is upper-cased
  EXPECT_EQ(m.at("general.dataset.0.organization"), "HuggingFaceH4");
  EXPECT_EQ(m.at("general.dataset.1.repo_url"), "https://huggingface.co/datasets/x");
  EXPECT_EQ(m.at("general.dataset.1.name"), "X");  // huggingface.co/datasets/x: "datasets" is the org part
  EXPECT_EQ(m.count("widget"), 0u);
}

TEST(ModelCard, ListsOfLicensesAndBaseModelsAndNoFrontMatter) {
  const auto m = as_map(parse_model_card("---\nlicense:\n  - mit\n  - other\nbase_model:\n- org/a-model\n- mistralai/Mistral-7B-v0.1\n---\n"));
  EXPECT_EQ(m.at("general.license"), "mit,other");
  EXPECT_EQ(m.at("general.base_model.count"), "2");
  EXPECT_EQ(m.at("general.base_model.0.name"), "A Model");
  EXPECT_EQ(m.at("general.base_model.1.name"), "Mistral 7B v0.1");
  EXPECT_EQ(m.at("general.base_model.1.organization"), "Mistralai");
  EXPECT_TRUE(parse_model_card("# Just a README\nlicense: mit\n").kvs.empty());
  EXPECT_TRUE(parse_model_card("").kvs.empty());
}

TEST(ModelCard, HostileFrontMatterIsBoundedAndNeverThrows) {
  std::string many = "---\ntags:\n";
  for (int i = 0; i < 100000; ++i) many += "- t" + std::to_string(i) + "\n";
  many += "---\n";
  const ModelCard big = parse_model_card(many);
  for (const auto& kv : big.kvs) {
    if (kv.key == "general.tags") EXPECT_LE(kv.value.array().count, 1024u);
  }
  std::string junk = "---\nlicense: \"unterminated\nname: \xff\xfe bad utf8\n: no key\n- stray item\n[\n";
  junk += "author: " + std::string(10000, 'a') + "\n---\n";
  const ModelCard j = parse_model_card(junk);
  EXPECT_TRUE(j.name.empty());
  for (const auto& kv : j.kvs) EXPECT_NE(kv.key, "general.author") << "a 10000-byte value is dropped";
}

}  // namespace
}  // namespace ckpt
