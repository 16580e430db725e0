#include <array>

#include "probes/activity.hpp"
#include "probes/archiver.hpp"
#include "probes/backups.hpp"
#include "probes/connections.hpp"
#include "probes/databases.hpp"
#include "probes/datadir.hpp"
#include "probes/disk.hpp"
#include "probes/locks.hpp"
#include "probes/logs.hpp"
#include "probes/probe.hpp"
#include "probes/replication.hpp"
#include "probes/settings.hpp"
#include "probes/slots.hpp"
#include "probes/statements.hpp"
#include "probes/vacuum.hpp"

namespace pgvigil {

namespace {
// The one table of probes: {name, enabled by default, SQL factory, host factory}.
// "liveness" is not here: every target has it, driven by its monitor. Custom
// checks are built per [[target.check]] entry.
const std::array kProbes{
    ProbeDescriptor{"activity", true, &make_activity_probe, nullptr},
    ProbeDescriptor{"connections", true, &make_connections_probe, nullptr},
    ProbeDescriptor{"settings", true, &make_settings_probe, nullptr},
    ProbeDescriptor{"locks", true, &make_locks_probe, nullptr},
    ProbeDescriptor{"databases", true, &make_databases_probe, nullptr},
    ProbeDescriptor{"vacuum", true, &make_vacuum_probe, nullptr},
    ProbeDescriptor{"statements", true, &make_statements_probe, nullptr},
    ProbeDescriptor{"replication", true, &make_replication_probe, nullptr},
    ProbeDescriptor{"slots", true, &make_slots_probe, nullptr},
    ProbeDescriptor{"archiver", true, &make_archiver_probe, nullptr},
    ProbeDescriptor{"disk", true, nullptr, &make_disk_probe},
    ProbeDescriptor{"backups", true, nullptr, &make_backups_probe},
    ProbeDescriptor{"datadir", true, nullptr, &make_datadir_probe},
    ProbeDescriptor{"logs", true, nullptr, &make_logs_probe},
};
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
