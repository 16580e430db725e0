#pragma once
// WAL archiving: pg_stat_archiver counters and times, the .ready backlog in
// archive_status, whether archiving is configured, and whether the newest
// archived segment is older than the target's RPO while WAL keeps coming.
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

std::unique_ptr<SqlProbe> make_archiver_probe();

}  // namespace pgvigil
