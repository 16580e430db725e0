#pragma once
// The effective configuration: plain values, every default already applied.
// parse.cpp builds it from TOML; nothing else in the daemon reads TOML.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgvigil::config {

using Duration = std::chrono::milliseconds;

inline constexpr std::uint16_t kDefaultPort = 9816;

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  std::string client_auth = "none";  // none | require_and_verify
  std::string min_version = "TLS1.2";
};

struct ServerConfig {
  std::vector<std::string> listen{"0.0.0.0:9816"};  // host:port; "[::1]:9816" for IPv6
  std::size_t max_connections = 64;
  std::size_t max_request_bytes = 16 * 1024;
  Duration read_timeout{10'000};
  Duration idle_timeout{60'000};
  std::optional<TlsConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash (a secret)
  bool auth_exempt_health = true;
};

// The [log] level names (spdlog's), also what --log-level accepts.
inline const std::vector<std::string_view> kLogLevels{"trace", "debug",    "info", "warn",
                                                      "error", "critical", "off"};

struct LogConfig {
  std::string level = "info";   // trace|debug|info|warn|error|critical|off
  std::string format = "text";  // text|json
};

// Per-probe knobs that exist for every probe; unset fields fall back to the
// [probes.NAME] section, then to the probe's own default.
struct ProbeSettings {
  std::optional<bool> enabled;
  std::optional<Duration> interval;
  std::optional<Duration> timeout;
  std::optional<std::size_t> top_n;            // vacuum, statements, wait_events
  std::vector<std::string> include_databases;  // glob patterns; empty = all
  std::vector<std::string> exclude_databases;  // glob patterns

  bool operator==(const ProbeSettings&) const = default;
};

struct BackupConfig {
  std::string glob;  // e.g. /var/backups/pg/*.sql.gz
  Duration max_age{24 * 3600 * 1000LL};
  std::uint64_t min_size_bytes = 0;

  bool operator==(const BackupConfig&) const = default;
};

struct LogScanConfig {
  std::string path;  // file or glob of PostgreSQL server logs
  std::uint64_t max_bytes_per_round = 4 * 1024 * 1024;

  bool operator==(const LogScanConfig&) const = default;
};

enum class Comparison { greater, greater_equal, less, less_equal, equal, not_equal };

struct CheckConfig {
  std::string name;
  std::string database;  // empty: the target's own database
  std::string sql;       // must return one numeric value
  Duration interval{60'000};
  Duration timeout{10'000};
  Comparison comparison = Comparison::greater;
  double threshold = 0;
  std::string expect;  // the text as written, e.g. "> 0"
  Duration for_duration{0};
  std::string severity = "warning";

  bool operator==(const CheckConfig&) const = default;
};

// A custom SQL collector ([[collector]], docs/collectors.md): a query whose
// rows become series, one per row and value column.
enum class ColumnUsage { label, gauge, counter, discard };

struct CollectorColumn {
  std::string name;  // the result column, and the metric name's suffix
  ColumnUsage usage = ColumnUsage::discard;
  std::string help;
  // An expectation on every series of this column (the check semantics of
  // [[target.check]]): pgvigil_check_ok{check="<metric>", <labels>}.
  bool has_expect = false;
  Comparison comparison = Comparison::greater;
  double threshold = 0;
  std::string expect;  // as written, e.g. "< 1000"
  Duration for_duration{0};
  std::string severity = "warning";

  bool operator==(const CollectorColumn&) const = default;
};

// SQL for a range of server_version_num; max 0 = no upper bound.
struct CollectorBranch {
  int min_version = 0;
  int max_version = 0;
  std::string sql;

  bool operator==(const CollectorBranch&) const = default;
};

struct CollectorConfig {
  std::string name;                       // metric prefix: <name>_<column>
  std::string defined_at;                 // "FILE:LINE" of its table, for every error about it
  std::vector<CollectorBranch> branches;  // the first matching one runs; none: no query
  // Where it runs: empty = the target's own database; else database names or
  // globs ("*" = every database of the walk), minus exclude_databases.
  std::vector<std::string> databases;
  std::vector<std::string> exclude_databases;
  std::vector<std::string> targets;  // target names it applies to; empty = every target
  Duration interval{60'000};
  Duration timeout{10'000};
  std::size_t max_rows = 1000;
  std::size_t max_series = 1000;
  std::vector<CollectorColumn> columns;

  // True when it runs in other databases than the target's own, over the walk.
  bool walks_databases() const noexcept {
    return databases.size() > 1 ||
           (databases.size() == 1 && databases[0].find_first_of("*?[") != std::string::npos);
  }
  std::string metric_name(const CollectorColumn& column) const { return name + "_" + column.name; }

  bool operator==(const CollectorConfig&) const = default;
};

// Overrides for one alert rule (thresholds in base units: seconds, bytes, ratios).
struct RuleOverride {
  std::optional<bool> enabled;
  std::optional<Duration> for_duration;
  std::map<std::string, double> thresholds;  // e.g. warning=5, critical=300
  bool operator==(const RuleOverride&) const = default;
};

struct TargetConfig {
  std::string name;
  std::string conninfo;                     // libpq conninfo string or URI (may hold a secret)
  std::map<std::string, std::string> conn;  // libpq keywords: host, port, user, dbname, sslmode...
  std::string password_file;                // a file whose first line is the password
  std::map<std::string, std::string> labels;    // extra labels on every series of this target
  std::map<std::string, ProbeSettings> probes;  // per-probe overrides
  std::vector<std::string> expected_databases;
  std::optional<int> expected_replicas;
  Duration rpo{15 * 60 * 1000};
  std::optional<std::string> data_directory;  // overrides discovery from the server
  std::optional<std::string> wal_directory;
  std::vector<std::string> extra_paths;
  std::vector<BackupConfig> backups;
  std::optional<LogScanConfig> log;
  std::vector<CheckConfig> checks;
  std::vector<CollectorConfig> collectors;  // the [[collector]]s that apply to this target
  std::string patroni_url;
  std::map<std::string, RuleOverride> rules;  // per-target alert overrides

  bool operator==(const TargetConfig&) const = default;
};

// [[target_template]]: what discovery cannot know (credentials, dbname,
// probes, rules, backups, log paths) for the discovered targets whose labels
// match. `base` holds every [[target]] key but name/conninfo/host/hostaddr/port.
struct TargetTemplate {
  std::map<std::string, std::string> match;  // label -> value, compared exactly; {} matches all
  TargetConfig base;
  std::string defined_at;  // "FILE:LINE"
};

// [[file_sd]]: Prometheus file_sd files (JSON or YAML), watched with inotify
// and re-read every refresh_interval as well.
struct FileSdConfig {
  std::string name;                // the `source` label; default file_sd, file_sd_2, ...
  std::vector<std::string> files;  // globs, relative to the config's directory
  Duration refresh_interval{5 * 60 * 1000};
  std::string defined_at;
};

// [[http_sd]]: a Prometheus http_sd endpoint polled every refresh_interval.
struct HttpSdConfig {
  std::string name;  // default http_sd, http_sd_2, ...
  std::string url;   // may hold user:password (a secret)
  Duration refresh_interval{60 * 1000};
  Duration timeout{10 * 1000};
  std::uint64_t max_bytes = 4 * 1024 * 1024;
  std::string basic_auth_user;
  std::string basic_auth_password_file;
  std::string bearer_token_file;
  std::string defined_at;
};

// [[patroni_sd]]: every Patroni cluster (scope) and member under a namespace
// of Patroni's etcd, read through etcd's v3 JSON gateway every
// refresh_interval. A member becomes a target named "<scope>.<member>" with
// labels cluster and member and its patroni_url from the member's api_url.
struct PatroniSdConfig {
  std::string name;                          // default patroni_sd, patroni_sd_2, ...
  std::vector<std::string> endpoints;        // etcd client URLs, tried in order
  std::string namespace_path = "/service/";  // Patroni's `namespace`, with both slashes
  std::vector<std::string> scopes;           // only these clusters; empty: every one
  Duration refresh_interval{2'000};
  Duration timeout{2'000};
  std::uint64_t max_bytes = 4 * 1024 * 1024;
  std::string basic_auth_user;  // etcd's own users, when auth is enabled
  std::string basic_auth_password_file;
  std::string defined_at;
};

// A [[target]] of a kind other than "postgres" (docs/redis.md,
// docs/pgbouncer.md, docs/neo4j.md): one server watched over its own
// protocol. Kept apart from the PostgreSQL targets so nothing that plans SQL
// probes, collectors or libpq parameters ever sees one.
enum class ServiceKind { redis, pgbouncer, neo4j };
std::string_view to_string(ServiceKind kind) noexcept;

struct ServiceTargetConfig {
  ServiceKind kind = ServiceKind::redis;
  std::string name;
  std::string host;           // from address = "host:port", or host
  std::uint16_t port = 6379;  // the kind's default: 6379, 6432, 7474
  std::string user;           // Redis: ACL user (empty: AUTH password); others: the login
  std::string password_file;  // a file whose first line is the password
  std::string database;       // pgbouncer: the admin database; neo4j: the database checked
  bool tls = false;           // neo4j: https
  Duration timeout{5000};     // connect, and every reply
  Duration interval{5000};    // between rounds
  std::map<std::string, std::string> labels;
  std::map<std::string, RuleOverride> rules;
  bool operator==(const ServiceTargetConfig&) const = default;
};

struct AlertingConfig {
  std::vector<std::string> alertmanagers;  // base URLs, e.g. http://127.0.0.1:9093
  Duration evaluation_interval{1'000};
  Duration resend_interval{60'000};
  Duration send_timeout{10'000};
  std::string external_url;  // for generatorURL; default derived from listen
  // Where runbook_url points: BASE + "<Alert>.md". Default: this daemon's own
  // pages, external_url (or the listen address) + "/runbooks/".
  std::string runbook_base_url;
  std::string basic_auth_user;
  std::string basic_auth_password_file;
  std::string bearer_token_file;
  std::map<std::string, RuleOverride> rules;  // global alert overrides
};

struct Config {
  std::string source_path;
  ServerConfig server;
  LogConfig log;
  std::string state_directory = "/var/lib/pgvigil";
  // PostgreSQL connection attempts in progress at once, across all targets
  // (admission control: a fleet starting, or many targets reconnecting after
  // a server restart, connects in a steady stream instead of a storm).
  std::size_t max_connection_attempts = 32;
  std::map<std::string, ProbeSettings> probes;       // [probes.NAME] defaults
  std::vector<TargetConfig> targets;                 // the static [[target]]s, kind = "postgres"
  std::vector<ServiceTargetConfig> service_targets;  // the static [[target]]s of other kinds
  std::vector<TargetTemplate> target_templates;
  // What a discovered target that matches no template starts from: the
  // global [probes] and [alerting.rules] defaults folded into an empty target.
  TargetConfig discovery_defaults;
  std::vector<FileSdConfig> file_sd;
  std::vector<HttpSdConfig> http_sd;
  std::vector<PatroniSdConfig> patroni_sd;
  // Sharding: this process keeps the targets whose name hashes to `shard`
  // modulo `shards` (Prometheus' hashmod: MD5, its last 8 bytes big-endian).
  std::uint32_t shards = 1;
  std::uint32_t shard = 0;
  std::vector<CollectorConfig> collectors;   // every [[collector]], inline and included
  std::vector<std::string> collector_files;  // globs, relative to the config's directory
  AlertingConfig alerting;
};

}  // namespace pgvigil::config
