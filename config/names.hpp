#pragma once
// The probe and alert-rule names a config may refer to. The config layer sits
// below probes/ and alerts/, so it keeps its own list; those areas should
// static_assert or test that their registries match these names.
#include <algorithm>
#include <array>
#include <string_view>

namespace pgvigil::config {

using namespace std::string_view_literals;

inline constexpr std::array kProbeNames{
    "liveness"sv, "activity"sv,   "connections"sv, "settings"sv, "locks"sv,    "databases"sv,
    "vacuum"sv,   "statements"sv, "replication"sv, "slots"sv,    "archiver"sv, "disk"sv,
    "backups"sv,  "datadir"sv,    "logs"sv,        "checks"sv,   "patroni"sv,
};

inline constexpr std::array kRuleNames{
    "PostgresDown"sv,
    "PostgresDatabaseMissing"sv,
    "PostgresTooManyConnections"sv,
    "PostgresConnectionsExhausted"sv,
    "PostgresIdleInTransaction"sv,
    "PostgresLongRunningQuery"sv,
    "PostgresLockContention"sv,
    "PostgresReplicationLag"sv,
    "PostgresReplicaMissing"sv,
    "PostgresReplicationSlotInactive"sv,
    "PostgresRoleChanged"sv,
    "PostgresWalArchivingFailing"sv,
    "PostgresDiskSpaceLow"sv,
    "PostgresDiskWillFill"sv,
    "PostgresBackupStale"sv,
    "PostgresStaleLockFile"sv,
    "PostgresCorruption"sv,
    "PostgresXidWraparound"sv,
    "PostgresDeadTuples"sv,
    "PostgresCustomCheckFailed"sv,
    "PgvigilProbeFailing"sv,
    "PatroniNoLeader"sv,
    "PatroniUnreachable"sv,
    "PostgresRestarted"sv,
    "PostgresCrashed"sv,
    "PostgresDataDirectoryPermissions"sv,
    "PostgresInodesLow"sv,
    "PostgresPendingRestart"sv,
    "PostgresDeadlocks"sv,
    "PostgresOutOfMemory"sv,
    "PostgresSystemIdentifierChanged"sv,
    "PostgresQuerySlowdown"sv,
};

inline constexpr bool is_probe_name(std::string_view name) {
  return std::find(kProbeNames.begin(), kProbeNames.end(), name) != kProbeNames.end();
}

inline constexpr bool is_rule_name(std::string_view name) {
  return std::find(kRuleNames.begin(), kRuleNames.end(), name) != kRuleNames.end();
}

}  // namespace pgvigil::config
