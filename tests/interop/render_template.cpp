// Renders a chat template file with a JSON context through ckpt's Jinja interpreter and prints the
// result as a JSON string (for run_interop.sh's chat-templates case).
// Usage: render_template TEMPLATE.jinja CONTEXT_JSON
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/jinja.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: render_template TEMPLATE.jinja CONTEXT_JSON\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  try {
    std::cout << nlohmann::json(ckpt::runtime::render_jinja(text.str(), nlohmann::ordered_json::parse(argv[2]), argv[1])).dump() << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
