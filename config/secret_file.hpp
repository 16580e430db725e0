#pragma once
// Secrets kept in files (password_file, bearer_token_file,
// basic_auth_password_file): the first line is the secret. One reader for
// every such file, so they all treat line ends alike. Blocking file I/O:
// called at (re)load, never on the event loop.
#include <optional>
#include <string>

namespace pgvigil::config {

// The file's first line without its line end ("\n" or "\r\n"); other
// characters, spaces included, belong to the secret. Nothing when the file
// cannot be opened or is empty.
std::optional<std::string> read_secret_file(const std::string& path);

}  // namespace pgvigil::config
