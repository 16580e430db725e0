#include "probes/slots.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>

namespace pgvigil {
namespace {

constexpr std::string_view kSlotsQuery = "replication_slots";

// Retained WAL is measured from the server's own write position: the current
// LSN on a primary, the last received (else replayed) LSN on a standby. The
// CASE reads pg_is_in_recovery() itself so a promotion between the role check
// and this statement cannot make pg_current_wal_lsn() fail.
constexpr std::string_view kCurrentLsn =
    "CASE WHEN pg_is_in_recovery() "
    "THEN COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) "
    "ELSE pg_current_wal_lsn() END";

std::string slots_sql(int version_num) {
  std::string sql = R"(SELECT s.slot_name,
       s.slot_type,
       s.database,
       s.active,
       pg_wal_lsn_diff(cur.lsn, s.restart_lsn) AS retained_bytes,
       age(s.xmin) AS xmin_age,
       age(s.catalog_xmin) AS catalog_xmin_age)";
  // wal_status and safe_wal_size appeared in 13, inactive_since in 17.
  sql += version_num >= 130000 ? ",\n       s.wal_status,\n       s.safe_wal_size"
                               : ",\n       NULL::text AS wal_status,\n       NULL::bigint AS "
                                 "safe_wal_size";
  sql += version_num >= 170000
             ? ",\n       EXTRACT(EPOCH FROM now() - s.inactive_since) AS inactive_seconds"
             : ",\n       NULL::numeric AS inactive_seconds";
  sql += "\nFROM pg_replication_slots s\nCROSS JOIN (SELECT ";
  sql += kCurrentLsn;
  sql += " AS lsn) cur\nORDER BY s.slot_name";
  return sql;
}

constexpr std::array<std::string_view, 4> kWalStatuses{"reserved", "extended", "unreserved",
                                                       "lost"};

class SlotsProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "slots"; }
  config::Duration default_interval() const noexcept override { return config::Duration{15'000}; }

  std::vector<Query> queries(const ProbeContext& ctx) const override {
    return {{std::string(kSlotsQuery), slots_sql(ctx.server.version_num)}};
  }

  void collect(const ProbeContext&, std::span<const QueryResult> results,
               SampleSink& out) override {
    if (results.empty() || !results[0].ok) return;
    const QueryResult& rows = results[0];
    std::string inactive;
    for (std::size_t row = 0; row < rows.rows.size(); ++row) {
      auto slot_name = rows.text(row, "slot_name");
      if (!slot_name) continue;  // cannot happen in PostgreSQL; no label to hang samples on
      const Labels labels{{"slot_name", std::string(*slot_name)},
                          {"slot_type", std::string(rows.text(row, "slot_type").value_or(""))},
                          {"database", std::string(rows.text(row, "database").value_or(""))}};

      const auto active = rows.boolean(row, "active");
      if (active)
        out.gauge("pg_replication_slots_active", "1 when a connection is using this slot", labels,
                  *active ? 1.0 : 0.0);
      const auto retained = rows.number(row, "retained_bytes");
      if (retained)
        out.gauge("pg_replication_slots_pg_wal_lsn_diff",
                  "WAL bytes this slot retains (server's current LSN - restart_lsn)", labels,
                  *retained);
      const auto status = rows.text(row, "wal_status");
      if (status)
        out.state_set("pg_replication_slots_wal_status",
                      "Availability of the WAL this slot needs (13+; 1 for the current state)",
                      labels, "wal_status", kWalStatuses, *status);
      // A slot that never reserved WAL has no wal_status, yet PostgreSQL still
      // computes a (meaningless, often negative) safe_wal_size for it.
      const auto safe = rows.number(row, "safe_wal_size");
      if (safe && status)
        out.gauge("pg_replication_slots_safe_wal_size_bytes",
                  "WAL bytes that can still be written before this slot risks state lost (13+, "
                  "only with max_slot_wal_keep_size)",
                  labels, *safe);
      if (auto age = rows.number(row, "xmin_age"))
        out.gauge("pg_replication_slots_xmin_age_xids",
                  "Age in transactions of the oldest xmin this slot holds back from vacuum", labels,
                  *age);
      if (auto age = rows.number(row, "catalog_xmin_age"))
        out.gauge("pg_replication_slots_catalog_xmin_age_xids",
                  "Age in transactions of the oldest catalog xmin this slot holds back", labels,
                  *age);
      if (auto seconds = rows.number(row, "inactive_seconds"))
        out.gauge("pg_replication_slots_inactive_seconds",
                  "Seconds since this slot became inactive (17+)", labels,
                  *seconds < 0 ? 0.0 : *seconds);

      if (active == false) {
        char bytes[32] = "-";
        if (retained && std::isfinite(*retained))
          std::snprintf(bytes, sizeof bytes, "%.0f", *retained);
        inactive += labels[0].second + ' ' + labels[1].second + ' ' +
                    (labels[2].second.empty() ? "-" : labels[2].second) + ' ' + bytes + ' ' +
                    std::string(rows.text(row, "wal_status").value_or("-")) + '\n';
      }
    }
    out.evidence("slots.inactive",
                 inactive.empty()
                     ? std::string("no inactive replication slots\n")
                     : "slot_name slot_type database retained_bytes wal_status\n" + inactive);
  }
};

}  // namespace

std::unique_ptr<SqlProbe> make_slots_probe() {
  return std::make_unique<SlotsProbe>();
}

}  // namespace pgvigil
