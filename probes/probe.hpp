#pragma once
// The probe contract. A probe never does network I/O itself: a SQL probe says
// which statements it needs (queries) and turns their results into samples
// (collect). The session decides how to send them (pipelined, with deadlines).
// A host probe reads local files and runs on the worker pool, off the loop.
#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "probes/database_patterns.hpp"
#include "probes/query_result.hpp"
#include "probes/sample_sink.hpp"

namespace pgvigil {

// What the daemon knows about a connected server; read once per connection and
// refreshed when the recovery state flips.
struct ServerInfo {
  int version_num = 0;  // server_version_num, e.g. 150010
  std::string version;  // server_version, e.g. "15.10 (Debian 15.10-0+deb12u1)"
  bool in_recovery = false;
  std::string current_database;
  std::string current_user;
  bool is_superuser = false;
  bool has_pg_stat_statements = false;  // the extension exists in current_database
  // name -> setting, for the few settings probes read at connect time (the
  // list is the session's kSettingsSql); a name not listed there reads empty.
  std::map<std::string, std::string, std::less<>> settings;
  // pg_control_system().system_identifier as decimal text (a 64-bit value does
  // not fit a double); empty when it could not be read.
  std::string system_identifier;

  std::string_view setting(std::string_view name) const noexcept {
    auto it = settings.find(name);
    return it == settings.end() ? std::string_view{} : std::string_view(it->second);
  }
};

struct Query {
  std::string name;  // short id for errors and metrics, e.g. "activity_by_state"
  std::string sql;
};

// Everything a probe may look at besides results.
struct ProbeContext {
  const ServerInfo& server;
  const config::TargetConfig& target;
  std::chrono::system_clock::time_point now;
  // For per-database probes: the database these results come from (the
  // daemon connects to each selected database in turn); else the target's own.
  std::string_view database;
  // The probe's include/exclude_databases: a server-wide probe may narrow its
  // SQL with datname_prefilter(); the daemon filters the samples either way.
  DatabasePatterns databases{};
};

class SqlProbe {
 public:
  virtual ~SqlProbe() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual config::Duration default_interval() const noexcept = 0;
  // Statements to send in one pipelined round; empty means "nothing to do on
  // this server" (e.g. a version gate), and the probe then emits nothing.
  virtual std::vector<Query> queries(const ProbeContext& ctx) const = 0;
  // True for probes whose views are per database (pg_stat_user_tables): the
  // daemon then runs queries() in every selected database, one connection at
  // a time, and calls collect() once per database within the same round.
  virtual bool per_database() const noexcept { return false; }
  // results[i] answers queries(ctx)[i]. Must not throw on odd input: a NULL
  // cell produces no sample; a failed statement skips only what it feeds.
  // Not const: a probe instance belongs to one target and may keep state
  // (counters, previous values) between rounds.
  virtual void collect(const ProbeContext& ctx, std::span<const QueryResult> results,
                       SampleSink& out) = 0;
};

struct HostContext {
  const config::TargetConfig& target;
  std::string data_directory;   // discovered from the server or configured; may be empty
  std::string wal_directory;    // may be empty
  std::string state_directory;  // where probes may keep small state files
  std::chrono::system_clock::time_point now;
  // The probe's interval: how old a reading shared with other targets of the
  // same host may be (shared_reading.hpp). 0: never share.
  std::chrono::milliseconds interval{0};
};

class HostProbe {
 public:
  virtual ~HostProbe() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual config::Duration default_interval() const noexcept = 0;
  // Runs on a worker thread: blocking file I/O is allowed here, never on the
  // event loop. One instance per target, never run concurrently with itself.
  virtual void collect(const HostContext& ctx, SampleSink& out) = 0;
};

// The one catalogue of probes (catalogue.cpp): every name a config may use
// in [probes.NAME] and `probes = [...]`, what the probe reads, whether it is
// on by default, and how to make one. The config's list of valid probe
// names is derived from it (probe_names()); collect/job_catalogue.* turns
// it into a target's jobs. Adding a probe = one line there.
enum class ProbeSource {
  liveness,  // the target's own connection state (every target has it)
  sql,       // statements on the monitoring connection or per database
  host,      // local files, on the worker pool
  http,      // Patroni's REST API (on once a target names patroni_url)
  checks,    // the target's [[target.check]] entries, one job each
};

struct ProbeDescriptor {
  std::string_view name;
  ProbeSource source;
  bool enabled_by_default;
  config::Duration default_interval;          // for sql and host probes: their own
  std::unique_ptr<SqlProbe> (*make_sql)();    // set for ProbeSource::sql
  std::unique_ptr<HostProbe> (*make_host)();  // set for ProbeSource::host
};

std::span<const ProbeDescriptor> probe_catalogue();
const ProbeDescriptor* find_probe(std::string_view name);
std::vector<std::string_view> probe_names();

}  // namespace pgvigil
