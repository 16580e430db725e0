#pragma once
// Replication slots (pg_replication_slots), on primaries and standbys alike:
// activity, retained WAL, WAL availability (13+), the xmin horizons a slot
// holds back, and how long a slot has been inactive (17+).
#include <memory>

#include "probes/probe.hpp"

namespace pgvigil {

std::unique_ptr<SqlProbe> make_slots_probe();

}  // namespace pgvigil
