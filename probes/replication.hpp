#pragma once
// Streaming replication as each side sees it. On a primary: one set of series
// per connected standby (pg_stat_replication), counts per walsender state and
// the missing-replica gauge. On a standby: replay lag, pending replay bytes,
// pause state and the WAL receiver. The role comes from ServerInfo::in_recovery;
// the other role's metrics are never emitted.
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

std::unique_ptr<SqlProbe> make_replication_probe();

}  // namespace pgvigil
