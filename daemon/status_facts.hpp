#pragma once
// The status page's numbers for one target, read from the metrics store's
// latest rounds (in memory, no I/O). Apart from status_page.cpp so the page
// renderer needs nothing but its input (the http fuzzer links it alone).
#include "daemon/status_page.hpp"

namespace pgvigil {

class MetricsStore;

// Fills replication lag, connection use, disk forecast and backup age; what
// has no sample stays empty.
void status_facts(const MetricsStore& store, double now_unix, TargetStatus& status);

}  // namespace pgvigil
