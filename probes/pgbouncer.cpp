#include "probes/pgbouncer.hpp"

#include <array>
#include <cmath>

#include "config/text.hpp"

namespace pgvigil::pgbouncer {

namespace {

constexpr std::array<std::string_view, 10> kReasonNames{
    "none",        "connecting", "refused",          "timeout",  "dns",
    "auth_failed", "tls",        "too_many_clients", "protocol", "other",
};

// One numeric column of a SHOW result and the metric it becomes.
struct Column {
  std::string_view column;
  std::string_view metric;
  std::string_view help;
  double scale = 1;  // pgbouncer counts time in microseconds
  bool counter = false;
  bool required = false;  // every supported version (1.12 and later) has it
};

constexpr double kMicro = 1e-6;

// SHOW POOLS: one row per (database, user) pool.
constexpr std::array<Column, 12> kPoolColumns{{
    {"cl_active", "pgbouncer_pools_client_active_connections",
     "Client connections linked to a server connection or idle with nothing to run.", 1, false,
     true},
    {"cl_waiting", "pgbouncer_pools_client_waiting_connections",
     "Client connections that sent a query and wait for a server connection.", 1, false, true},
    {"cl_active_cancel_req", "pgbouncer_pools_client_active_cancel_connections",
     "Client connections whose cancel request went to the server.", 1, false, false},
    {"cl_waiting_cancel_req", "pgbouncer_pools_client_waiting_cancel_connections",
     "Client connections whose cancel request waits to be sent.", 1, false, false},
    {"sv_active", "pgbouncer_pools_server_active_connections",
     "Server connections linked to a client connection.", 1, false, true},
    {"sv_active_cancel", "pgbouncer_pools_server_active_cancel_connections",
     "Server connections forwarding a cancel request.", 1, false, false},
    {"sv_being_canceled", "pgbouncer_pools_server_being_canceled_connections",
     "Server connections kept until in-flight cancel requests for them complete.", 1, false, false},
    {"sv_idle", "pgbouncer_pools_server_idle_connections",
     "Server connections unused and ready for a client query.", 1, false, true},
    {"sv_used", "pgbouncer_pools_server_used_connections",
     "Server connections idle longer than server_check_delay (checked before reuse).", 1, false,
     true},
    {"sv_tested", "pgbouncer_pools_server_testing_connections",
     "Server connections running server_reset_query or server_check_query.", 1, false, true},
    {"sv_login", "pgbouncer_pools_server_login_connections",
     "Server connections logging in to PostgreSQL.", 1, false, true},
    {"maxwait", "", "", 1, false, true},  // with maxwait_us, below
}};

// SHOW STATS: one row per database, totals since pgbouncer started and the
// averages of the last stats_period.
constexpr std::array<Column, 14> kStatsColumns{{
    {"total_query_count", "pgbouncer_stats_queries_pooled_total",
     "SQL queries pooled (sent to a server) since pgbouncer started.", 1, true, true},
    {"total_xact_count", "pgbouncer_stats_sql_transactions_pooled_total",
     "SQL transactions pooled since pgbouncer started.", 1, true, true},
    {"total_received", "pgbouncer_stats_received_bytes_total",
     "Bytes received from clients since pgbouncer started.", 1, true, true},
    {"total_sent", "pgbouncer_stats_sent_bytes_total",
     "Bytes sent to clients since pgbouncer started.", 1, true, true},
    {"total_query_time", "pgbouncer_stats_queries_duration_seconds_total",
     "Seconds server connections spent running queries.", kMicro, true, true},
    {"total_xact_time", "pgbouncer_stats_server_in_transaction_seconds_total",
     "Seconds server connections spent in a transaction (running or idle in it).", kMicro, true,
     true},
    {"total_wait_time", "pgbouncer_stats_client_wait_seconds_total",
     "Seconds clients spent waiting for a server connection.", kMicro, true, true},
    {"avg_query_count", "pgbouncer_stats_avg_queries_per_second",
     "Queries per second over the last stats_period.", 1, false, false},
    {"avg_xact_count", "pgbouncer_stats_avg_transactions_per_second",
     "Transactions per second over the last stats_period.", 1, false, false},
    {"avg_recv", "pgbouncer_stats_avg_received_bytes_per_second",
     "Bytes per second received from clients over the last stats_period.", 1, false, false},
    {"avg_sent", "pgbouncer_stats_avg_sent_bytes_per_second",
     "Bytes per second sent to clients over the last stats_period.", 1, false, false},
    {"avg_query_time", "pgbouncer_stats_avg_query_duration_seconds",
     "Average query duration over the last stats_period.", kMicro, false, false},
    {"avg_xact_time", "pgbouncer_stats_avg_transaction_duration_seconds",
     "Average transaction duration over the last stats_period.", kMicro, false, false},
    {"avg_wait_time", "pgbouncer_stats_avg_wait_seconds",
     "Average time clients waited for a server connection over the last stats_period.", kMicro,
     false, false},
}};

// SHOW DATABASES: one row per configured database.
constexpr std::array<Column, 6> kDatabaseColumns{{
    {"pool_size", "pgbouncer_databases_pool_size",
     "Server connections a pool of this database may open (per user).", 1, false, true},
    {"reserve_pool", "pgbouncer_databases_reserve_pool",
     "Additional server connections allowed when clients wait too long.", 1, false, false},
    {"max_connections", "pgbouncer_databases_max_connections",
     "Server connections allowed for this database over all its pools; 0 means no limit.", 1, false,
     true},
    {"current_connections", "pgbouncer_databases_current_connections",
     "Server connections open for this database.", 1, false, true},
    {"paused", "pgbouncer_databases_paused", "1 while the database is paused (PAUSE).", 1, false,
     false},
    {"disabled", "pgbouncer_databases_disabled", "1 while the database is disabled (DISABLE).", 1,
     false, false},
}};

struct ListMetric {
  std::string_view list;
  std::string_view metric;
  std::string_view help;
};
// SHOW LISTS: one row per internal list; names as pgbouncer_exporter's.
constexpr std::array<ListMetric, 11> kLists{{
    {"databases", "pgbouncer_databases", "Databases configured."},
    {"users", "pgbouncer_users", "Users known (auth_file and auth_query)."},
    {"pools", "pgbouncer_pools", "Pools, one per (database, user) in use."},
    {"free_clients", "pgbouncer_free_clients", "Client slots allocated and free."},
    {"used_clients", "pgbouncer_used_clients", "Client connections open."},
    {"login_clients", "pgbouncer_login_clients", "Client connections logging in."},
    {"free_servers", "pgbouncer_free_servers", "Server slots allocated and free."},
    {"used_servers", "pgbouncer_used_servers", "Server connections open."},
    {"dns_names", "pgbouncer_cached_dns_names", "Host names in the DNS cache."},
    {"dns_zones", "pgbouncer_cached_dns_zones", "DNS zones in the cache."},
    {"dns_queries", "pgbouncer_in_flight_dns_queries", "DNS queries in flight."},
}};

// What a bad result says: which statement, which column; a value is quoted
// short and printable so a broken reply cannot flood the log.
std::string excerpt(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 40)) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte >= 0x7f) ? '?' : c;
  }
  return "\"" + out + "\"";
}

class RoundParser {
 public:
  explicit RoundParser(SampleSink& out) : out_(out) {}

  // The columns every row needs; false (and error_) when one is missing.
  bool require(const QueryResult& result, std::string_view statement,
               std::initializer_list<std::string_view> labels, std::span<const Column> columns) {
    for (auto name : labels)
      if (!missing(result, statement, name)) return false;
    for (const auto& column : columns)
      if (column.required && !missing(result, statement, column.column)) return false;
    return true;
  }

  // A cell as a number: nullopt for NULL or a missing optional column; an
  // error (and nullopt) for text that is not a number.
  std::optional<double> number(const QueryResult& result, std::size_t row,
                               std::string_view statement, std::string_view column) {
    const auto text = result.text(row, column);
    if (!text) return std::nullopt;
    const auto value = result.number(row, column);
    if (!value || !std::isfinite(*value)) {
      fail(std::string(statement) + " column " + std::string(column) +
           " is not a number: " + excerpt(*text));
      return std::nullopt;
    }
    return value;
  }

  void emit(const QueryResult& result, std::size_t row, std::string_view statement,
            const Column& column, const Labels& labels) {
    if (column.metric.empty()) return;
    const auto value = number(result, row, statement, column.column);
    if (!value) return;
    if (column.counter)
      out_.counter(column.metric, column.help, labels, *value * column.scale);
    else
      out_.gauge(column.metric, column.help, labels, *value * column.scale);
  }

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }

 private:
  bool missing(const QueryResult& result, std::string_view statement, std::string_view name) {
    if (result.column(name) >= 0) return true;
    fail(std::string(statement) + " has no column " + std::string(name));
    return false;
  }

  SampleSink& out_;
  std::string error_;
};

std::string label_text(const QueryResult& result, std::size_t row, std::string_view column) {
  return std::string(result.text(row, column).value_or(""));
}

// "PgBouncer 1.18.0" (and "PgBouncer 1.18.0 ..." of some builds) -> "1.18.0".
std::string version_number(std::string_view text) {
  const auto start = text.find_first_of("0123456789");
  if (start == std::string_view::npos) return {};
  auto end = start;
  while (end < text.size() && (config::is_ascii_digit(text[end]) || text[end] == '.')) ++end;
  return std::string(text.substr(start, end - start));
}

}  // namespace

std::string_view to_string(DownReason reason) noexcept {
  return kReasonNames[static_cast<std::size_t>(reason)];
}

std::span<const std::string_view> down_reason_names() noexcept {
  return kReasonNames;
}

DownReason classify_failure(FailureReason generic, std::string_view message) {
  using config::icontains;
  // pgbouncer's own refusals, whatever SQLSTATE came with them.
  if (icontains(message, "SASL authentication failed") ||
      icontains(message, "password authentication failed") ||
      icontains(message, "no password supplied") || icontains(message, "not allowed") ||
      icontains(message, "no such user"))
    return DownReason::auth_failed;
  if (icontains(message, "no more connections allowed")) return DownReason::too_many_clients;
  switch (generic) {
    case FailureReason::refused:
      return DownReason::refused;
    case FailureReason::timeout:
      return DownReason::timeout;
    case FailureReason::dns:
      return DownReason::dns;
    case FailureReason::auth_failed:
      return DownReason::auth_failed;
    case FailureReason::too_many_clients:
      return DownReason::too_many_clients;
    case FailureReason::ssl:
      return DownReason::tls;
    default:
      return DownReason::other;
  }
}

const std::vector<Query>& queries() {
  static const std::vector<Query> statements{
      {"version", "SHOW VERSION"},     {"pools", "SHOW POOLS"}, {"stats", "SHOW STATS"},
      {"databases", "SHOW DATABASES"}, {"lists", "SHOW LISTS"}, {"config", "SHOW CONFIG"},
  };
  return statements;
}

CollectResult collect(std::span<const QueryResult> results, SampleSink& out) {
  CollectResult outcome;
  outcome.reason = DownReason::protocol;
  if (results.size() != queries().size()) {
    outcome.error = "expected " + std::to_string(queries().size()) + " results, got " +
                    std::to_string(results.size());
    return outcome;
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok) {
      // The console refused a statement: a user in neither admin_users nor
      // stats_users is told "not allowed".
      outcome.reason = classify_failure(FailureReason::other, results[i].error);
      outcome.error = queries()[i].sql + ": " + results[i].error;
      return outcome;
    }
  }
  const auto& version = results[0];
  const auto& pools = results[1];
  const auto& stats = results[2];
  const auto& databases = results[3];
  const auto& lists = results[4];
  const auto& settings = results[5];

  RoundParser parser(out);
  outcome.reason = DownReason::protocol;  // unless it succeeds, from here on

  if (version.column("version") < 0 || version.rows.empty() || !version.text(0, "version")) {
    outcome.error = "SHOW VERSION has no version";
    return outcome;
  }
  outcome.version = version_number(*version.text(0, "version"));
  out.gauge("pgbouncer_version_info", "Always 1; the pgbouncer version as a label.",
            {{"version", outcome.version}}, 1);

  // SHOW CONFIG first: its pool_mode is what a database without its own means.
  std::string default_pool_mode;
  if (!parser.require(settings, "SHOW CONFIG", {"key", "value"}, {})) {
    outcome.error = parser.error();
    return outcome;
  }
  for (std::size_t row = 0; row < settings.rows.size(); ++row) {
    const auto key = settings.text(row, "key").value_or("");
    if (key == "pool_mode") default_pool_mode = label_text(settings, row, "value");
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kSettings{{
        {"max_client_conn", "pgbouncer_config_max_client_connections"},
        {"max_user_connections", "pgbouncer_config_max_user_connections"},
    }};
    for (const auto& [setting, metric] : kSettings) {
      if (key != setting) continue;
      if (auto value = parser.number(settings, row, "SHOW CONFIG", "value"))
        out.gauge(metric,
                  key == "max_client_conn"
                      ? "The max_client_conn setting: client connections pgbouncer accepts."
                      : "The max_user_connections setting; 0 means no limit.",
                  {}, *value);
    }
  }

  if (parser.require(pools, "SHOW POOLS", {"database", "user"}, kPoolColumns)) {
    for (std::size_t row = 0; row < pools.rows.size() && !parser.failed(); ++row) {
      const Labels labels{{"database", label_text(pools, row, "database")},
                          {"user", label_text(pools, row, "user")}};
      for (const auto& column : kPoolColumns) parser.emit(pools, row, "SHOW POOLS", column, labels);
      // maxwait is whole seconds; maxwait_us (1.8 and later) the rest of it.
      auto seconds = parser.number(pools, row, "SHOW POOLS", "maxwait");
      const auto micros = parser.number(pools, row, "SHOW POOLS", "maxwait_us");
      if (seconds)
        out.gauge("pgbouncer_pools_client_maxwait_seconds",
                  "How long the oldest waiting client of the pool has waited.", labels,
                  *seconds + micros.value_or(0) * kMicro);
    }
  }

  if (!parser.failed() && parser.require(stats, "SHOW STATS", {"database"}, kStatsColumns)) {
    for (std::size_t row = 0; row < stats.rows.size() && !parser.failed(); ++row) {
      const Labels labels{{"database", label_text(stats, row, "database")}};
      for (const auto& column : kStatsColumns)
        parser.emit(stats, row, "SHOW STATS", column, labels);
    }
  }

  if (!parser.failed() && parser.require(databases, "SHOW DATABASES", {"name"}, kDatabaseColumns)) {
    for (std::size_t row = 0; row < databases.rows.size() && !parser.failed(); ++row) {
      // A database without a pool_mode of its own uses the global one.
      std::string mode = label_text(databases, row, "pool_mode");
      if (mode.empty()) mode = default_pool_mode;
      const Labels labels{{"name", label_text(databases, row, "name")},
                          {"host", label_text(databases, row, "host")},
                          {"port", label_text(databases, row, "port")},
                          {"database", label_text(databases, row, "database")},
                          {"force_user", label_text(databases, row, "force_user")},
                          {"pool_mode", mode}};
      for (const auto& column : kDatabaseColumns)
        parser.emit(databases, row, "SHOW DATABASES", column, labels);
    }
  }

  if (!parser.failed() && parser.require(lists, "SHOW LISTS", {"list", "items"}, {})) {
    for (std::size_t row = 0; row < lists.rows.size() && !parser.failed(); ++row) {
      const auto name = lists.text(row, "list").value_or("");
      for (const auto& list : kLists) {
        if (name != list.list) continue;
        if (auto value = parser.number(lists, row, "SHOW LISTS", "items"))
          out.gauge(list.metric, list.help, {}, *value);
      }
    }
  }

  if (parser.failed()) {
    outcome.error = parser.error();
    return outcome;
  }
  outcome.ok = true;
  return outcome;
}

void Liveness::emit(SampleSink& out) const {
  out.gauge("pgbouncer_up",
            "1 when the last round of SHOW commands on the admin console succeeded within its "
            "deadline.",
            {}, up ? 1 : 0);
  out.state_set("pgbouncer_connection_failure",
                "Why the pgbouncer target cannot be reached; none when it can.", {}, "reason",
                down_reason_names(), to_string(reason));
  for (const auto& [failed, count] : failures) {
    out.counter("pgbouncer_connection_failures_total", "Failed rounds by reason.",
                {{"reason", std::string(to_string(failed))}}, static_cast<double>(count));
  }
  if (connect_seconds)
    out.gauge("pgbouncer_connect_duration_seconds", "Time the last successful connection took.", {},
              *connect_seconds);
  if (round_seconds)
    out.gauge("pgbouncer_probe_rtt_seconds", "Time the last round of SHOW commands took.", {},
              *round_seconds);
}

}  // namespace pgvigil::pgbouncer
