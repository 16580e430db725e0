#include "config/secret_file.hpp"

#include <fstream>

namespace pgvigil::config {

std::optional<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace pgvigil::config
