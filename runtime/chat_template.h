// Chat prompts for instruct models. ckpt does not run Jinja: it recognizes the template families
// by their marker tokens (ChatML, Llama-3, Llama-2/Mistral [INST], Zephyr, Gemma) and writes that
// family's format, which is what those templates produce for plain text messages.
#pragma once

#include <string>
#include <vector>

namespace ckpt::runtime {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class ChatFormat { ChatML, Llama3, Llama2, Mistral, Zephyr, Gemma };

// The family of a tokenizer.chat_template; throws Error(Unsupported) naming `source` when unknown.
ChatFormat detect_chat_format(const std::string& chat_template, const std::string& source);

// The prompt text for `messages`, ending with the assistant's turn opened. BOS is not included: the
// tokenizer adds it as the vocabulary asks.
std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages);

}  // namespace ckpt::runtime
