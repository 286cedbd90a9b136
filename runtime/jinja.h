// A Jinja2 interpreter for the chat templates models ship (tokenizer_config.json "chat_template",
// GGUF tokenizer.chat_template), rendering as transformers' apply_chat_template does: trim_blocks and
// lstrip_blocks on, loop controls, raise_exception, namespace, macros, the filters and string / dict
// methods those templates use, tojson as Python's json.dumps(ensure_ascii=False).
// Errors name the template's line and column.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "formats/tokenizer_meta.h"

namespace ckpt::runtime {

// Renders `source` with `context` (messages, add_generation_prompt, bos_token, tools, ...).
// Throws Error(BadJson field "chat_template line L column C") for syntax errors and raise_exception().
std::string render_jinja(const std::string& source, const nlohmann::ordered_json& context, const std::string& origin = "chat_template");

// A chat template rendered for a vocabulary: `context` (messages, add_generation_prompt, tools...) gets
// the vocabulary's bos_token and eos_token texts, as apply_chat_template passes them; with
// `strip_bos`, a leading BOS text is removed (the tokenizer adds BOS itself).
std::string render_chat_prompt(const TokenizerMeta& vocab, const std::string& source, nlohmann::ordered_json context,
                               const std::string& origin, bool strip_bos);

}  // namespace ckpt::runtime
