// libFuzzer harness: pgvigil.toml text -> parse_config_text -> (when valid)
// render_effective_config -> parse again. Nothing may crash; the rendered
// text must be TOML that toml++ reads back, and rendering is idempotent.
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "alerts/rules.hpp"
#include "config/parse.hpp"

namespace {

[[noreturn]] void fail(const char* what, const std::string& text) {
  std::fprintf(stderr, "config fuzzer: %s\n--- rendered ---\n%s\n", what, text.c_str());
  __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pgvigil::config::Vocabulary names = pgvigil::alerts::config_vocabulary();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const auto result = pgvigil::config::parse_config_text(text, "fuzz.toml", names);
  for (const auto& error : result.errors) (void)error.to_string();
  if (!result.config) return 0;

  const std::string rendered = pgvigil::config::render_effective_config(*result.config);
  try {
    (void)toml::parse(std::string_view(rendered), std::string_view("rendered.toml"));
  } catch (const toml::parse_error&) {
    fail("the rendered configuration is not valid TOML", rendered);
  }
  // Secrets render as "<redacted>", which validation may refuse; when the
  // rendered text is accepted, rendering it again must give the same text.
  const auto again = pgvigil::config::parse_config_text(rendered, "fuzz.toml", names);
  if (again.config && pgvigil::config::render_effective_config(*again.config) != rendered) {
    fail("rendering the rendered configuration changed it", rendered);
  }
  return 0;
}
