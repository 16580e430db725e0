#include "daemon/status_facts.hpp"

#include <algorithm>
#include <cmath>

#include "collect/metrics_store.hpp"

namespace pgvigil {
namespace {

std::optional<double> max_of(const std::vector<std::pair<Labels, double>>& samples) {
  std::optional<double> out;
  for (const auto& [labels, value] : samples)
    if (std::isfinite(value) && (!out || value > *out)) out = value;
  return out;
}

std::optional<double> min_of(const std::vector<std::pair<Labels, double>>& samples) {
  std::optional<double> out;
  for (const auto& [labels, value] : samples)
    if (std::isfinite(value) && (!out || value < *out)) out = value;
  return out;
}

}  // namespace

void status_facts(const MetricsStore& store, double now_unix, TargetStatus& status) {
  const auto& name = status.target.name;
  // A standby's own replay lag, else the worst standby's as the primary sees it.
  status.replication_lag_seconds = max_of(store.samples(name, "pg_replication_lag_seconds"));
  if (!status.replication_lag_seconds)
    status.replication_lag_seconds =
        max_of(store.samples(name, "pg_stat_replication_replay_lag_seconds"));
  status.connections_used_ratio = max_of(store.samples(name, "pg_connections_utilization_ratio"));
  status.disk_full_unix =
      min_of(store.samples(name, "pg_filesystem_predicted_full_timestamp_seconds"));
  if (auto newest = max_of(store.samples(name, "pg_backup_last_timestamp_seconds")); newest)
    status.backup_age_seconds = std::max(0.0, now_unix - *newest);
  status.backup_stale = max_of(store.samples(name, "pg_backup_stale")).value_or(0) > 0;
}

}  // namespace pgvigil
