#include "probes/replication.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <deque>
#include <optional>
#include <set>
#include <string>

namespace pgvigil {
namespace {

// --- primary side ---------------------------------------------------------

constexpr std::string_view kStandbysQuery = "replication_standbys";
// One row per walsender. The current LSN is read once per statement so every
// lag of a row is measured against the same point. The slot comes from the
// slot's active_pid; walsenders without a slot get "". pg_monitor sees every
// column (it includes pg_read_all_stats).
constexpr std::string_view kStandbysSql = R"(SELECT r.pid,
       r.application_name,
       host(r.client_addr) AS client_addr,
       s.slot_name,
       s.slot_type,
       r.state,
       r.sync_state,
       pg_wal_lsn_diff(cur.lsn, '0/0') AS current_wal_lsn_bytes,
       pg_wal_lsn_diff(cur.lsn, r.sent_lsn) AS sent_lag_bytes,
       pg_wal_lsn_diff(cur.lsn, r.write_lsn) AS write_lag_bytes,
       pg_wal_lsn_diff(cur.lsn, r.flush_lsn) AS flush_lag_bytes,
       pg_wal_lsn_diff(cur.lsn, r.replay_lsn) AS replay_lag_bytes,
       EXTRACT(EPOCH FROM r.write_lag) AS write_lag_seconds,
       EXTRACT(EPOCH FROM r.flush_lag) AS flush_lag_seconds,
       EXTRACT(EPOCH FROM r.replay_lag) AS replay_lag_seconds,
       EXTRACT(EPOCH FROM now() - r.reply_time) AS reply_age_seconds
FROM pg_stat_replication r
CROSS JOIN (SELECT pg_current_wal_lsn() AS lsn) cur
LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
ORDER BY r.pid)";

// --- standby side ---------------------------------------------------------

constexpr std::string_view kStandbyReplayQuery = "replication_standby_replay";
constexpr std::string_view kStandbyReplaySql = R"(SELECT
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0') AS receive_lsn_bytes,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0') AS replay_lsn_bytes,
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) AS last_replay_seconds,
       pg_is_wal_replay_paused() AS replay_paused)";

constexpr std::string_view kWalReceiverQuery = "replication_wal_receiver";
// 13 renamed received_lsn to flushed_lsn and added written_lsn. conninfo is
// never selected: it may hold a password.
constexpr std::string_view kWalReceiverSql13 = R"(SELECT status,
       received_tli,
       pg_wal_lsn_diff(written_lsn, '0/0') AS written_lsn_bytes,
       pg_wal_lsn_diff(flushed_lsn, '0/0') AS flushed_lsn_bytes,
       EXTRACT(EPOCH FROM now() - last_msg_receipt_time) AS last_msg_receipt_age_seconds,
       EXTRACT(EPOCH FROM now() - latest_end_time) AS latest_end_age_seconds,
       slot_name,
       sender_host,
       sender_port
FROM pg_stat_wal_receiver)";
constexpr std::string_view kWalReceiverSql12 = R"(SELECT status,
       received_tli,
       NULL::numeric AS written_lsn_bytes,
       pg_wal_lsn_diff(received_lsn, '0/0') AS flushed_lsn_bytes,
       EXTRACT(EPOCH FROM now() - last_msg_receipt_time) AS last_msg_receipt_age_seconds,
       EXTRACT(EPOCH FROM now() - latest_end_time) AS latest_end_age_seconds,
       slot_name,
       sender_host,
       sender_port
FROM pg_stat_wal_receiver)";

constexpr std::array<std::string_view, 5> kWalsenderStates{"startup", "catchup", "streaming",
                                                           "backup", "stopping"};
constexpr std::array<std::string_view, 4> kSyncStates{"async", "potential", "sync", "quorum"};
constexpr std::array<std::string_view, 7> kReceiverStates{
    "stopped", "starting", "streaming", "waiting", "restarting", "stopping", "disconnected"};

const QueryResult* result_for(std::span<const Query> queries, std::span<const QueryResult> results,
                              std::string_view name) {
  for (std::size_t i = 0; i < queries.size() && i < results.size(); ++i)
    if (queries[i].name == name) return results[i].ok ? &results[i] : nullptr;
  return nullptr;
}

std::string cell_or_empty(const QueryResult& result, std::size_t row, std::string_view col) {
  return std::string(result.text(row, col).value_or(std::string_view{}));
}

// Clocks of two processes (or of the sender and the receiver) can be a few
// milliseconds apart; an age is never negative.
double non_negative(double value) {
  return value < 0 ? 0 : value;
}

std::string format_value(std::optional<double> value, const char* format) {
  if (!value || !std::isfinite(*value)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, *value);
  return buffer;
}

// When the primary's WAL position first passed each value, as seen at probe
// rounds. PostgreSQL's replay_lag only changes when the standby replays
// something, so a standby whose replay has stopped keeps showing its last
// (small) value; the time since the primary first stood beyond the standby's
// replay position keeps growing instead.
class WalPositionHistory {
 public:
  using Clock = std::chrono::system_clock;
  static constexpr std::size_t kMaxEntries = 4096;  // ~5.7 h of steady writes at 5 s rounds

  void observe(double current_lsn, Clock::time_point now) {
    if (!entries_.empty() && current_lsn < entries_.back().lsn) entries_.clear();  // a new cluster
    if (entries_.empty() || current_lsn > entries_.back().lsn)
      entries_.push_back({current_lsn, now});
    while (entries_.size() > kMaxEntries) entries_.pop_front();
  }

  // Seconds since the primary first stood beyond `replay_lsn`; 0 when the
  // standby has replayed everything seen. A lower bound when the position
  // was passed before the oldest remembered round.
  double delay_seconds(double replay_lsn, Clock::time_point now) const {
    for (const auto& entry : entries_)
      if (entry.lsn > replay_lsn)
        return std::max(0.0, std::chrono::duration<double>(now - entry.first_seen).count());
    return 0;
  }

  // Positions at or below every standby's replay position are never asked about again.
  void forget_up_to(double lsn) {
    while (entries_.size() > 1 && entries_[1].lsn <= lsn) entries_.pop_front();
  }

  void clear() { entries_.clear(); }

 private:
  struct Entry {
    double lsn;
    Clock::time_point first_seen;
  };
  std::deque<Entry> entries_;
};

class ReplicationProbe final : public SqlProbe {
 public:
  std::string_view name() const noexcept override { return "replication"; }
  config::Duration default_interval() const noexcept override { return config::Duration{5'000}; }

  std::vector<Query> queries(const ProbeContext& ctx) const override {
    if (!ctx.server.in_recovery) return {{std::string(kStandbysQuery), std::string(kStandbysSql)}};
    const auto receiver_sql =
        ctx.server.version_num >= 130000 ? kWalReceiverSql13 : kWalReceiverSql12;
    return {{std::string(kStandbyReplayQuery), std::string(kStandbyReplaySql)},
            {std::string(kWalReceiverQuery), std::string(receiver_sql)}};
  }

  void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
               SampleSink& out) override {
    const auto planned = queries(ctx);
    if (!ctx.server.in_recovery) {
      was_standby_ = false;
      if (ctx.target.expected_replicas)
        out.gauge("pg_replication_expected_replicas",
                  "Number of streaming physical standbys this primary should have (configured)", {},
                  *ctx.target.expected_replicas);
      if (const auto* standbys = result_for(planned, results, kStandbysQuery))
        collect_primary(ctx, *standbys, out);
      return;
    }
    if (!was_standby_) history_.clear();  // positions of a former primary say nothing now
    was_standby_ = true;
    if (const auto* replay = result_for(planned, results, kStandbyReplayQuery))
      collect_replay(*replay, out);
    if (const auto* receiver = result_for(planned, results, kWalReceiverQuery))
      collect_receiver(*receiver, out);
  }

 private:
  void collect_primary(const ProbeContext& ctx, const QueryResult& rows, SampleSink& out) {
    std::array<int, kWalsenderStates.size()> per_state{};
    if (!rows.rows.empty())
      if (auto current = rows.number(0, "current_wal_lsn_bytes"))
        history_.observe(*current, ctx.now);
    std::optional<double> oldest_replay;
    std::set<Labels> seen;
    std::string table =
        "application_name client_addr slot state sync_state sent_lag_bytes write_lag_bytes "
        "flush_lag_bytes replay_lag_bytes replay_lag_seconds replay_delay_seconds "
        "reply_age_seconds\n";
    for (std::size_t row = 0; row < rows.rows.size(); ++row) {
      const std::string state = cell_or_empty(rows, row, "state");
      // Logical walsenders (subscriptions) are not replicas of this server.
      const bool logical =
          rows.text(row, "slot_type") == std::optional<std::string_view>("logical");
      if (!logical) {
        auto it = std::find(kWalsenderStates.begin(), kWalsenderStates.end(), state);
        if (it != kWalsenderStates.end())
          ++per_state[static_cast<std::size_t>(it - kWalsenderStates.begin())];
      }

      Labels labels{{"application_name", cell_or_empty(rows, row, "application_name")},
                    {"client_addr", cell_or_empty(rows, row, "client_addr")},
                    {"slot_name", cell_or_empty(rows, row, "slot_name")},
                    {"state", state}};
      // Two walsenders from one host with the same application_name and no
      // slot would collide; the exposition must not carry duplicate series.
      if (!seen.insert(labels).second) continue;

      auto gauge = [&](std::string_view metric, std::string_view help,
                       std::optional<double> value) {
        if (value) out.gauge(metric, help, labels, *value);
      };
      const auto current = rows.number(row, "current_wal_lsn_bytes");
      gauge("pg_stat_replication_pg_current_wal_lsn_bytes",
            "Current WAL write position of the primary, as bytes since 0/0", current);
      const auto sent = rows.number(row, "sent_lag_bytes");
      const auto write = rows.number(row, "write_lag_bytes");
      const auto flush = rows.number(row, "flush_lag_bytes");
      const auto replay = rows.number(row, "replay_lag_bytes");
      gauge("pg_stat_replication_sent_lag_bytes",
            "WAL bytes not yet sent to this standby (current LSN - sent_lsn)", sent);
      gauge("pg_stat_replication_write_lag_bytes",
            "WAL bytes not yet written by this standby (current LSN - write_lsn)", write);
      gauge("pg_stat_replication_flush_lag_bytes",
            "WAL bytes not yet flushed by this standby (current LSN - flush_lsn)", flush);
      gauge("pg_stat_replication_replay_lag_bytes",
            "WAL bytes not yet replayed by this standby (current LSN - replay_lsn)", replay);
      gauge("pg_stat_replication_pg_wal_lsn_diff",
            "Lag in bytes between the primary and the standby's replay position "
            "(postgres_exporter compatible)",
            replay);

      // PostgreSQL reports NULL lag times once a standby has caught up and
      // the primary is idle. That is a lag of 0 only when the standby really
      // is at the current LSN; otherwise nothing is known and nothing is sent.
      auto lag_seconds = [&](std::string_view metric, std::string_view help,
                             std::string_view column, std::optional<double> lag_bytes) {
        auto seconds = rows.number(row, column);
        if (!seconds && rows.text(row, column) == std::nullopt && lag_bytes && *lag_bytes == 0)
          seconds = 0.0;
        gauge(metric, help, seconds);
      };
      lag_seconds("pg_stat_replication_write_lag_seconds",
                  "Time until recent WAL was written by this standby (write_lag)",
                  "write_lag_seconds", write);
      lag_seconds("pg_stat_replication_flush_lag_seconds",
                  "Time until recent WAL was flushed by this standby (flush_lag)",
                  "flush_lag_seconds", flush);
      lag_seconds("pg_stat_replication_replay_lag_seconds",
                  "Time until recent WAL was replayed by this standby (replay_lag)",
                  "replay_lag_seconds", replay);
      // The lag an operator means: 0 when caught up, and growing while replay
      // stands still (replay_lag freezes then). PostgreSQL's own figure is
      // finer while WAL flows, so the larger of the two is reported.
      std::optional<double> delay;
      if (current && replay) {
        const double replay_lsn = *current - *replay;
        delay = *replay <= 0 ? 0.0 : history_.delay_seconds(replay_lsn, ctx.now);
        if (*replay > 0)
          if (auto reported = rows.number(row, "replay_lag_seconds"))
            delay = std::max(*delay, non_negative(*reported));
        gauge("pg_stat_replication_replay_delay_seconds",
              "How far this standby's replay is behind in time: 0 when it has replayed the "
              "current WAL position, else the larger of replay_lag and the time since this "
              "primary first passed the standby's replay position (grows while replay stalls)",
              delay);
        oldest_replay = oldest_replay ? std::min(*oldest_replay, replay_lsn) : replay_lsn;
      }
      if (auto age = rows.number(row, "reply_age_seconds"))
        out.gauge("pg_stat_replication_reply_age_seconds",
                  "Seconds since the last reply from this standby", labels, non_negative(*age));
      if (auto sync_state = rows.text(row, "sync_state"))
        out.state_set("pg_stat_replication_sync_state",
                      "Synchronous state of this standby (1 for the current state)", labels,
                      "sync_state", kSyncStates, *sync_state);

      table += labels[0].second + ' ' + (labels[1].second.empty() ? "-" : labels[1].second) + ' ' +
               (labels[2].second.empty() ? "-" : labels[2].second) + ' ' + state + ' ' +
               cell_or_empty(rows, row, "sync_state") + ' ' + format_value(sent, "%.0f") + ' ' +
               format_value(write, "%.0f") + ' ' + format_value(flush, "%.0f") + ' ' +
               format_value(replay, "%.0f") + ' ' +
               format_value(rows.number(row, "replay_lag_seconds"), "%.3f") + ' ' +
               format_value(delay, "%.1f") + ' ' +
               format_value(rows.number(row, "reply_age_seconds"), "%.1f") + '\n';
    }

    for (std::size_t i = 0; i < kWalsenderStates.size(); ++i)
      out.gauge("pg_stat_replication_replicas",
                "Physical standbys (and base backups) connected to this primary, by walsender "
                "state",
                {{"state", std::string(kWalsenderStates[i])}}, per_state[i]);
    if (ctx.target.expected_replicas) {
      const int streaming = per_state[2];
      out.gauge("pg_replication_missing_replicas",
                "Configured expected replicas minus streaming physical standbys (never negative)",
                {}, std::max(0, *ctx.target.expected_replicas - streaming));
    }
    if (oldest_replay) history_.forget_up_to(*oldest_replay);
    if (rows.rows.empty()) table += "(no standbys connected)\n";
    out.evidence("replication.standbys", std::move(table));
  }

  static void collect_replay(const QueryResult& rows, SampleSink& out) {
    if (rows.rows.empty()) return;
    const auto received = rows.number(0, "receive_lsn_bytes");
    const auto replayed = rows.number(0, "replay_lsn_bytes");
    const auto last_replay = rows.number(0, "last_replay_seconds");
    // Everything received is replayed: no lag, however long the primary has
    // been idle (pg_last_xact_replay_timestamp only moves with new commits).
    std::optional<double> lag;
    if (received && replayed && *received <= *replayed)
      lag = 0.0;
    else if (last_replay)
      lag = non_negative(*last_replay);
    if (lag)
      out.gauge("pg_replication_lag_seconds",
                "Replay lag of this standby: 0 when all received WAL is replayed, else seconds "
                "since the last replayed transaction",
                {}, *lag);
    if (last_replay)
      out.gauge("pg_replication_last_replay_seconds",
                "Seconds since the last transaction replayed on this standby committed", {},
                non_negative(*last_replay));
    if (received && replayed)
      out.gauge("pg_replication_replay_pending_bytes",
                "WAL bytes received by this standby but not yet replayed", {},
                non_negative(*received - *replayed));
    if (auto paused = rows.boolean(0, "replay_paused"))
      out.gauge("pg_replication_replay_paused", "1 when WAL replay is paused on this standby", {},
                *paused ? 1.0 : 0.0);
    if (received)
      out.gauge("pg_replication_receive_lsn_bytes",
                "Last WAL position received and synced to disk by streaming, as bytes since 0/0",
                {}, *received);
    if (replayed)
      out.gauge("pg_replication_replay_lsn_bytes",
                "Last WAL position replayed during recovery, as bytes since 0/0", {}, *replayed);
  }

  static void collect_receiver(const QueryResult& rows, SampleSink& out) {
    constexpr std::string_view help_status =
        "WAL receiver status (1 for the current one; disconnected when no WAL receiver runs)";
    if (rows.rows.empty()) {
      out.state_set("pg_stat_wal_receiver_status", help_status, {}, "status", kReceiverStates,
                    "disconnected");
      out.evidence("replication.receiver", "no WAL receiver is running on this standby\n");
      return;
    }
    const std::string status = cell_or_empty(rows, 0, "status");
    out.state_set("pg_stat_wal_receiver_status", help_status, {}, "status", kReceiverStates,
                  status);
    if (auto age = rows.number(0, "last_msg_receipt_age_seconds"))
      out.gauge("pg_stat_wal_receiver_last_msg_receipt_age_seconds",
                "Seconds since the last message from the sending server was received", {},
                non_negative(*age));
    if (auto age = rows.number(0, "latest_end_age_seconds"))
      out.gauge("pg_stat_wal_receiver_latest_end_age_seconds",
                "Seconds since the sending server last reported its WAL end position", {},
                non_negative(*age));
    if (auto lsn = rows.number(0, "flushed_lsn_bytes"))
      out.gauge("pg_stat_wal_receiver_flushed_lsn_bytes",
                "Last WAL position received and flushed by the WAL receiver, as bytes since 0/0",
                {}, *lsn);
    if (auto lsn = rows.number(0, "written_lsn_bytes"))
      out.gauge("pg_stat_wal_receiver_written_lsn_bytes",
                "Last WAL position received and written (not yet flushed) by the WAL receiver "
                "(13+), as bytes since 0/0",
                {}, *lsn);
    if (auto timeline = rows.number(0, "received_tli"))
      out.gauge("pg_stat_wal_receiver_received_timeline",
                "Timeline of the last WAL position received and flushed", {}, *timeline);

    std::string text = "status " + status;
    if (auto host = rows.text(0, "sender_host")) {
      text += ", sender ";
      text += *host;
      if (auto port = rows.text(0, "sender_port")) {
        text += ':';
        text += *port;
      }
    }
    if (auto slot = rows.text(0, "slot_name")) {
      text += ", slot ";
      text += *slot;
    }
    text += ", last message " +
            format_value(rows.number(0, "last_msg_receipt_age_seconds"), "%.1f") + " s ago\n";
    out.evidence("replication.receiver", std::move(text));
  }

  WalPositionHistory history_;
  bool was_standby_ = false;
};

}  // namespace

std::unique_ptr<SqlProbe> make_replication_probe() {
  return std::make_unique<ReplicationProbe>();
}

}  // namespace pgvigil
