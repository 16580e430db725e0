#include "probes/settings.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <string>

#include "probes/probe_output.hpp"

namespace pgvigil {

namespace {

// wal_keep_segments is the 12 spelling of wal_keep_size (13+); a name the
// server does not have simply returns no row.
constexpr std::string_view kSettingsSql = R"sql(
SELECT name, setting, unit, vartype
FROM pg_settings
WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout', 'max_wal_size',
               'wal_keep_size', 'wal_keep_segments', 'max_slot_wal_keep_size', 'archive_mode',
               'autovacuum', 'autovacuum_freeze_max_age', 'autovacuum_multixact_freeze_max_age',
               'data_checksums', 'shared_buffers', 'work_mem', 'checkpoint_timeout', 'fsync',
               'full_page_writes', 'max_prepared_transactions', 'max_locks_per_transaction')
ORDER BY name)sql";

constexpr std::string_view kPendingRestartSql = R"sql(
SELECT name FROM pg_settings WHERE pending_restart ORDER BY name)sql";

struct UnitScale {
  std::string_view unit;
  std::string_view suffix;
  double factor;
};

// pg_settings.unit values: time units become seconds, memory units bytes.
constexpr std::array<UnitScale, 15> kUnits{{
    {"ms", "_seconds", 1e-3},
    {"s", "_seconds", 1},
    {"min", "_seconds", 60},
    {"h", "_seconds", 3600},
    {"d", "_seconds", 86400},
    {"B", "_bytes", 1},
    {"kB", "_bytes", 1024.0},
    {"MB", "_bytes", 1024.0 * 1024},
    {"GB", "_bytes", 1024.0 * 1024 * 1024},
    {"TB", "_bytes", 1024.0 * 1024 * 1024 * 1024},
    {"8kB", "_bytes", 8 * 1024.0},
    {"16kB", "_bytes", 16 * 1024.0},
    {"32kB", "_bytes", 32 * 1024.0},
    {"16MB", "_bytes", 16 * 1024.0 * 1024},
    {"64MB", "_bytes", 64 * 1024.0 * 1024},
}};

}  // namespace

std::optional<SettingSample> setting_sample(std::string_view name, std::string_view setting,
                                            std::string_view unit, std::string_view vartype) {
  if (vartype == "bool") {
    if (setting == "on") return SettingSample{"", 1};
    if (setting == "off") return SettingSample{"", 0};
    return std::nullopt;
  }
  // archive_mode is an enum; "always" archives too.
  if (vartype == "enum" && name == "archive_mode") {
    if (setting == "on" || setting == "always") return SettingSample{"", 1};
    if (setting == "off") return SettingSample{"", 0};
    return std::nullopt;
  }
  if (vartype != "integer" && vartype != "real") return std::nullopt;
  auto value = parse_finite_number(setting);
  if (!value) return std::nullopt;
  if (unit.empty()) return SettingSample{"", *value};
  for (const auto& scale : kUnits) {
    if (scale.unit != unit) continue;
    return SettingSample{std::string(scale.suffix), *value == -1 ? -1 : *value * scale.factor};
  }
  return std::nullopt;
}

std::vector<Query> SettingsProbe::queries(const ProbeContext&) const {
  return {{"settings", std::string(kSettingsSql)},
          {"settings_pending_restart", std::string(kPendingRestartSql)}};
}

void SettingsProbe::collect(const ProbeContext&, std::span<const QueryResult> results,
                            SampleSink& out) {
  report_permission_denied(out, {{"probe", "settings"}}, any_permission_denied(results));

  if (!results.empty() && results[0].ok) {
    const auto& values = results[0];
    for (std::size_t row = 0; row < values.rows.size(); ++row) {
      auto name = values.text(row, "name");
      auto setting = values.text(row, "setting");
      auto vartype = values.text(row, "vartype");
      if (!name || !setting || !vartype) continue;
      auto sample =
          setting_sample(*name, *setting, values.text(row, "unit").value_or(""), *vartype);
      if (!sample) continue;
      std::string metric = "pg_settings_" + std::string(*name) + sample->suffix;
      for (char& c : metric)
        if (c == '.' || c == '-') c = '_';
      out.gauge(metric, "Server Parameter: " + std::string(*name), {}, sample->value);
    }
  }

  if (results.size() > 1 && results[1].ok) {
    const auto& pending = results[1];
    out.gauge("pg_settings_pending_restart_count",
              "Settings changed in the configuration that take effect only after a restart", {},
              static_cast<double>(pending.rows.size()));
    std::string names;
    for (std::size_t row = 0; row < pending.rows.size(); ++row) {
      if (auto name = pending.text(row, "name")) names += std::string(*name) + "\n";
    }
    out.evidence("settings.pending_restart", names.empty() ? "none" : names);
  }
}

std::unique_ptr<SqlProbe> make_settings_probe() {
  return std::make_unique<SettingsProbe>();
}

}  // namespace pgvigil
