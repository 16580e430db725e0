#include <array>

#include "probes/probe.hpp"

namespace pgvigil {

namespace {
// Probes register here, one line each: {name, enabled by default, sql factory, host factory}.
const std::array<ProbeDescriptor, 0> kProbes{};
}  // namespace

std::span<const ProbeDescriptor> probe_registry() {
  return kProbes;
}

const ProbeDescriptor* find_probe(std::string_view name) {
  for (const auto& probe : kProbes)
    if (probe.name == name) return &probe;
  return nullptr;
}

}  // namespace pgvigil
