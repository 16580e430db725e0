#pragma once
// settings: the server parameters the alerts compare against, named and
// converted like postgres_exporter's pg_settings collector
// (pg_settings_<name>[_seconds|_bytes]), plus how many wait for a restart.
#include <memory>
#include <optional>

#include "probes/probe.hpp"

namespace pgvigil {

class SettingsProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "settings"; }
  config::Duration default_interval() const noexcept override { return config::Duration{60'000}; }
  std::vector<Query> queries(const ProbeContext& ctx) const override;
  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override;
};

std::unique_ptr<SqlProbe> make_settings_probe();

// A pg_settings row as a sample: metric name suffix ("_seconds", "_bytes" or
// "") and value in base units. nullopt for values that are not numeric
// (enums other than archive_mode, strings) or carry an unknown unit. -1 (the
// usual "disabled") is kept as -1, as postgres_exporter does.
struct SettingSample {
  std::string suffix;
  double value = 0;
};
std::optional<SettingSample> setting_sample(std::string_view name, std::string_view setting,
                                            std::string_view unit, std::string_view vartype);

}  // namespace pgvigil
