#include "config/secret_file.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using pgvigil::config::read_secret_file;

namespace {

struct SecretDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("pgvigil-secret-" + std::to_string(::getpid()));
  SecretDir() { std::filesystem::create_directories(path); }
  ~SecretDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string write(const std::string& name, const std::string& bytes) const {
    const auto file = path / name;
    std::ofstream(file, std::ios::binary) << bytes;
    return file.string();
  }
};

}  // namespace

TEST_CASE("secret files: the first line without its line end, spaces kept") {
  SecretDir dir;
  CHECK(read_secret_file(dir.write("unix", "s3cret\nsecond line\n")) == "s3cret");
  CHECK(read_secret_file(dir.write("dos", "s3cret\r\n")) == "s3cret");
  CHECK(read_secret_file(dir.write("no_newline", "s3cret")) == "s3cret");
  // A password may end in a space; only the line end is taken off.
  CHECK(read_secret_file(dir.write("spaces", " pass word \n")) == " pass word ");
  CHECK(read_secret_file(dir.write("blank_first_line", "\nsecond\n")) == "");
  CHECK_FALSE(read_secret_file(dir.write("empty", "")).has_value());
  CHECK_FALSE(read_secret_file((dir.path / "missing").string()).has_value());
}
