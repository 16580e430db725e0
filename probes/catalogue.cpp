#include <array>

#include "probes/activity.hpp"
#include "probes/archiver.hpp"
#include "probes/backups.hpp"
#include "probes/bgwriter.hpp"
#include "probes/connections.hpp"
#include "probes/databases.hpp"
#include "probes/datadir.hpp"
#include "probes/disk.hpp"
#include "probes/indexes.hpp"
#include "probes/io.hpp"
#include "probes/locks.hpp"
#include "probes/logs.hpp"
#include "probes/probe.hpp"
#include "probes/replication.hpp"
#include "probes/settings.hpp"
#include "probes/slots.hpp"
#include "probes/statements.hpp"
#include "probes/vacuum.hpp"
#include "probes/wait_events.hpp"
#include "probes/wal.hpp"

namespace pgvigil {

namespace {

using namespace std::chrono_literals;
using S = ProbeSource;

// {name, source, on by default, default interval, SQL factory, host factory}.
// The order is the order of the config's name list (and its did-you-mean).
const std::array kProbes{
    ProbeDescriptor{"liveness", S::liveness, true, 1000ms, nullptr, nullptr},
    ProbeDescriptor{"activity", S::sql, true, {}, &make_activity_probe, nullptr},
    ProbeDescriptor{"connections", S::sql, true, {}, &make_connections_probe, nullptr},
    ProbeDescriptor{"settings", S::sql, true, {}, &make_settings_probe, nullptr},
    ProbeDescriptor{"locks", S::sql, true, {}, &make_locks_probe, nullptr},
    ProbeDescriptor{"databases", S::sql, true, {}, &make_databases_probe, nullptr},
    ProbeDescriptor{"vacuum", S::sql, true, {}, &make_vacuum_probe, nullptr},
    ProbeDescriptor{"indexes", S::sql, true, {}, &make_indexes_probe, nullptr},
    ProbeDescriptor{"statements", S::sql, true, {}, &make_statements_probe, nullptr},
    ProbeDescriptor{"replication", S::sql, true, {}, &make_replication_probe, nullptr},
    ProbeDescriptor{"slots", S::sql, true, {}, &make_slots_probe, nullptr},
    ProbeDescriptor{"archiver", S::sql, true, {}, &make_archiver_probe, nullptr},
    ProbeDescriptor{"bgwriter", S::sql, true, {}, &make_bgwriter_probe, nullptr},
    ProbeDescriptor{"wal", S::sql, true, {}, &make_wal_probe, nullptr},
    ProbeDescriptor{"wait_events", S::sql, true, {}, &make_wait_events_probe, nullptr},
    ProbeDescriptor{"io", S::sql, true, {}, &make_io_probe, nullptr},
    ProbeDescriptor{"disk", S::host, true, {}, nullptr, &make_disk_probe},
    ProbeDescriptor{"backups", S::host, true, {}, nullptr, &make_backups_probe},
    ProbeDescriptor{"datadir", S::host, true, {}, nullptr, &make_datadir_probe},
    ProbeDescriptor{"logs", S::host, true, {}, nullptr, &make_logs_probe},
    ProbeDescriptor{"checks", S::checks, true, {}, nullptr, nullptr},
    ProbeDescriptor{"patroni", S::http, true, 5000ms, nullptr, nullptr},
};
}  // namespace

std::span<const ProbeDescriptor> probe_catalogue() {
  return kProbes;
}

const ProbeDescriptor* find_probe(std::string_view name) {
  for (const auto& probe : kProbes)
    if (probe.name == name) return &probe;
  return nullptr;
}

std::vector<std::string_view> probe_names() {
  std::vector<std::string_view> names;
  names.reserve(kProbes.size());
  for (const auto& probe : kProbes) names.push_back(probe.name);
  return names;
}

}  // namespace pgvigil
