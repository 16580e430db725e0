// The test binaries' main: doctest's, plus --pg-major=N, which picks the
// PostgreSQL major the fixture starts (it sets PGVIGIL_PG_MAJOR for this
// process and the fixture scripts it runs). ctest's version matrix passes it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string_view>

int main(int argc, char** argv) {
  constexpr std::string_view kMajorOption = "--pg-major=";
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    if (!argument.starts_with(kMajorOption)) continue;
    const auto major = argument.substr(kMajorOption.size());
    if (major.empty() || major.find_first_not_of("0123456789") != std::string_view::npos) {
      std::cerr << "--pg-major takes a major version number, e.g. --pg-major=17\n";
      return 2;
    }
    ::setenv("PGVIGIL_PG_MAJOR", argv[i] + kMajorOption.size(), 1);
  }
  doctest::Context context(argc, argv);
  return context.run();
}
