#include "runtime/chat_template.h"

#include "formats/error.h"

namespace ckpt::runtime {

ChatFormat detect_chat_format(const std::string& t, const std::string& source) {
  auto has = [&](const char* marker) { return t.find(marker) != std::string::npos; };
  if (has("<|im_start|>")) return ChatFormat::ChatML;
  if (has("<|start_header_id|>")) return ChatFormat::Llama3;
  if (has("[INST]")) return has("<<SYS>>") ? ChatFormat::Llama2 : ChatFormat::Mistral;
  if (has("<|user|>")) return ChatFormat::Zephyr;
  if (has("<start_of_turn>")) return ChatFormat::Gemma;
  throw Error(ErrorCode::Unsupported, source, Error::kNoOffset, "tokenizer.chat_template",
              t.empty() ? "the model has no chat template (drop --chat and write the prompt yourself)"
                        : "template family not recognized (ChatML, Llama-3, [INST], Zephyr and Gemma are); write the prompt yourself");
}

std::string render_chat(ChatFormat format, const std::vector<ChatMessage>& messages) {
  std::string out;
  switch (format) {
    case ChatFormat::ChatML:
      for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      return out + "<|im_start|>assistant\n";
    case ChatFormat::Llama3:
      for (const auto& m : messages) out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
      return out + "<|start_header_id|>assistant<|end_header_id|>\n\n";
    case ChatFormat::Zephyr:
      for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
      return out + "<|assistant|>\n";
    case ChatFormat::Gemma:
      // Gemma has no system role: its template prepends the system text to the first user turn.
      {
        std::string pending_system;
        for (const auto& m : messages) {
          if (m.role == "system") {
            pending_system += m.content + "\n\n";
            continue;
          }
          out += "<start_of_turn>" + std::string(m.role == "assistant" ? "model" : m.role) + "\n" + pending_system + m.content +
                 "<end_of_turn>\n";
          pending_system.clear();
        }
      }
      return out + "<start_of_turn>model\n";
    case ChatFormat::Llama2:
    case ChatFormat::Mistral: {
      std::string system;
      bool first_user = true;
      for (const auto& m : messages) {
        if (m.role == "system") {
          system = m.content;
        } else if (m.role == "user") {
          std::string content = m.content;
          if (first_user && !system.empty()) {
            content = format == ChatFormat::Llama2 ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content : system + "\n\n" + content;
          }
          out += "[INST] " + content + " [/INST]";
          first_user = false;
        } else {
          out += " " + m.content + "</s>";
        }
      }
      return out;
    }
  }
  return out;
}

}  // namespace ckpt::runtime
