#pragma once
// pgvigil's own metrics that are computed at scrape time: build info and the
// process's CPU, memory and file descriptors (read from /proc/self, which is
// trivially cheap and never blocks).
#include <prometheus/collectable.h>

#include <chrono>
#include <string>
#include <string_view>

namespace pgvigil {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};
// Parses /proc/self/stat text (fields after the parenthesised comm).
bool parse_proc_stat(std::string_view text, long ticks_per_second, long page_size,
                     double boot_time_seconds, ProcStat& out);

class SelfMetrics : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace pgvigil
