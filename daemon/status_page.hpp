#pragma once
// The landing page (/): per target, up or down with the reason and since
// when, role, version, replication lag, connection saturation, the disk fill
// forecast, the backup age, and the target's active alerts with their
// evidence and a link to their runbook page. It refreshes itself (meta
// refresh), fetches nothing (no scripts, no external assets) and escapes
// every string that comes from a server, a log or the config.
//
// render_status_page is a pure function of StatusPage (status_facts.hpp fills
// a target's numbers from the metrics store).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/pages.hpp"

namespace pgvigil {

struct TargetStatus {
  TargetView target;            // name, up, reason, last error, version, role
  std::int64_t since_unix = 0;  // when up/down last changed (unix seconds; 0: unknown)
  std::optional<double>
      replication_lag_seconds;  // replica: its replay lag; primary: the worst standby's
  std::optional<double> connections_used_ratio;  // of the usable slots
  std::optional<double> disk_full_unix;          // the earliest forecast of a filesystem filling
  std::optional<double> backup_age_seconds;      // the newest backup's age
  bool backup_stale = false;
};

struct StatusPage {
  std::int64_t now_unix = 0;
  int refresh_seconds = 10;
  std::string version;  // pgvigil's own
  std::vector<TargetStatus> targets;
  std::vector<AlertView> alerts;  // pending and firing ones are shown
};

std::string render_status_page(const StatusPage& page);

// "2026-12-03 20:31:02 UTC"; "3m 12s", "2h 5m", "4d 1h".
std::string format_utc(std::int64_t unix_seconds);
std::string format_duration(double seconds);

}  // namespace pgvigil
