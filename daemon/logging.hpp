#pragma once
// Log setup: spdlog to stderr (journald picks it up), as text or JSON lines.
#include <string>

#include "config/config.hpp"

namespace pgvigil {

void setup_logging(const config::LogConfig& config);

}  // namespace pgvigil
