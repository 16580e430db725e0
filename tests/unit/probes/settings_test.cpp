#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/settings.hpp"

using namespace pgvigil;

namespace {

struct Fixture {
  ServerInfo server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  std::unique_ptr<SqlProbe> probe = make_settings_probe();
  std::vector<QueryResult> results = recorded::load_all("settings", probe->queries(ctx));
  SampleSink sink;

  double value(std::string_view name) {
    const auto* metric = sink.find(name, {});
    REQUIRE_MESSAGE(metric != nullptr, name);
    return metric->gauge.value;
  }
};

}  // namespace

TEST_CASE("settings: recorded SQL is the probe's SQL for PostgreSQL 15") {
  Fixture f;
  recorded::record_or_compare("settings", f.probe->queries(f.ctx));
}

TEST_CASE("settings: values in seconds and bytes as postgres_exporter names them") {
  Fixture f;
  f.probe->collect(f.ctx, f.results, f.sink);
  // The recording server ran with defaults (and a pending shared_buffers change).
  CHECK(f.value("pg_settings_shared_buffers_bytes") == 16384.0 * 8192);
  CHECK(f.value("pg_settings_work_mem_bytes") == 4096.0 * 1024);
  CHECK(f.value("pg_settings_max_wal_size_bytes") == 1024.0 * 1024 * 1024);
  CHECK(f.value("pg_settings_max_slot_wal_keep_size_bytes") == -1);  // -1 stays "unlimited"
  CHECK(f.value("pg_settings_wal_keep_size_bytes") == 0);
  CHECK(f.value("pg_settings_statement_timeout_seconds") == 0);
  CHECK(f.value("pg_settings_idle_in_transaction_session_timeout_seconds") == 0);
  CHECK(f.value("pg_settings_checkpoint_timeout_seconds") == 300);
  CHECK(f.value("pg_settings_archive_mode") == 0);
  CHECK(f.value("pg_settings_autovacuum") == 1);
  CHECK(f.value("pg_settings_data_checksums") == 0);
  CHECK(f.value("pg_settings_autovacuum_freeze_max_age") == 200000000);
  CHECK(f.value("pg_settings_max_locks_per_transaction") == 64);
  CHECK(f.sink.find("pg_settings_wal_level") == nullptr);
  CHECK(f.value("pg_settings_pending_restart_count") == 1);
  CHECK(f.sink.evidence().at("settings.pending_restart") == "shared_buffers\n");
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "settings"}})->gauge.value == 0);
}

TEST_CASE("settings: unit conversion") {
  CHECK(setting_sample("statement_timeout", "1500", "ms", "integer")->value == 1.5);
  CHECK(setting_sample("statement_timeout", "1500", "ms", "integer")->suffix == "_seconds");
  CHECK(setting_sample("x", "2", "min", "integer")->value == 120);
  CHECK(setting_sample("x", "1", "d", "integer")->value == 86400);
  CHECK(setting_sample("x", "64", "16MB", "integer")->value == 64.0 * 16 * 1024 * 1024);
  CHECK(setting_sample("x", "2", "GB", "integer")->suffix == "_bytes");
  CHECK(setting_sample("x", "0.5", "", "real")->value == 0.5);
  CHECK(setting_sample("archive_mode", "always", "", "enum")->value == 1);
  CHECK(setting_sample("archive_mode", "off", "", "enum")->value == 0);
  CHECK_FALSE(setting_sample("wal_level", "replica", "", "enum").has_value());
  CHECK_FALSE(setting_sample("x", "12", "parsecs", "integer").has_value());
  CHECK_FALSE(setting_sample("x", "twelve", "s", "integer").has_value());
  CHECK_FALSE(setting_sample("x", "", "", "integer").has_value());
  CHECK_FALSE(setting_sample("x", "maybe", "", "bool").has_value());
  CHECK_FALSE(setting_sample("x", "abc", "", "string").has_value());
}

TEST_CASE("settings: a failed statement skips only its part, NULLs give nothing") {
  Fixture f;
  f.results[1] = QueryResult::failure("42501", "permission denied for view pg_settings");
  f.results[0] = QueryResult::from_rows({"name", "setting", "unit", "vartype"},
                                        {{"work_mem", std::nullopt, "kB", "integer"},
                                         {"statement_timeout", "1000", std::nullopt, "integer"}});
  f.probe->collect(f.ctx, f.results, f.sink);
  CHECK(f.sink.find("pg_settings_work_mem_bytes") == nullptr);
  CHECK(f.value("pg_settings_statement_timeout") == 1000);  // no unit: raw value, no suffix
  CHECK(f.sink.find("pg_settings_pending_restart_count") == nullptr);
  CHECK(f.sink.find("pgvigil_probe_permission_denied", {{"probe", "settings"}})->gauge.value == 1);
  SampleSink empty;
  CHECK_NOTHROW(f.probe->collect(f.ctx, {}, empty));
}
