// Every metric family the daemon really serves is listed in docs/metrics.md,
// has HELP text, and the exposition parses line by line.
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <sstream>

#include "support/daemon_process.hpp"
#include "support/neo4j_fixture_server.hpp"
#include "support/pg_cluster.hpp"
#include "support/pgbouncer_server.hpp"
#include "support/redis_server.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::PgClusterOptions;
using pgvigil::test::wait_until;

namespace {
std::string target(const std::string& name, int port, const PgCluster& cluster,
                   const std::string& extra) {
  return "[[target]]\nname = \"" + name +
         "\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
         "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
         cluster.monitor_password_file() + "\"\n" + extra;
}
}  // namespace

TEST_CASE("metrics_documented: every served metric family is documented") {
  PgClusterOptions options;
  options.replica = true;
  PgCluster cluster(options);
  {
    pgvigil::test::TestConnection admin(cluster.conninfo(cluster.primary_port()));
    admin.query("CREATE TABLE t AS SELECT generate_series(1, 100) AS id");
    admin.query("DELETE FROM t WHERE id < 50");
  }
  // A Redis target too, with a key so the keyspace series exist.
  pgvigil::test::RedisServer redis;
  REQUIRE(redis.command({"SET", "k", "v", "EX", "600"}) == "OK");
  // And a pgbouncer in front of the primary.
  pgvigil::test::PgbouncerServer bouncer(cluster);
  // And a Neo4j target: the fixture stand-in as an Enterprise cluster member,
  // so the cluster series exist too.
  pgvigil::test::Neo4jFixtureServer neo4j(
      pgvigil::test::Neo4jFixtureServer::Mode::enterprise_leader);
  const std::string config =
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n" +
      target("primary", cluster.primary_port(), cluster,
             "expected_replicas = 1\nexpected_databases = [\"postgres\"]\n"
             "[[target.check]]\nname = \"one\"\nsql = \"SELECT 1\"\nexpect = \"== 1\"\n"
             "interval = \"1s\"\n") +
      target("replica", cluster.replica_port(), cluster, "") +
      "[[target]]\nname = \"cache\"\nkind = \"redis\"\naddress = \"127.0.0.1:" +
      std::to_string(redis.port()) + "\"\ninterval = \"1s\"\n" +
      "[[target]]\nname = \"bouncer\"\nkind = \"pgbouncer\"\naddress = \"127.0.0.1:" +
      std::to_string(bouncer.port()) + "\"\nuser = \"" + bouncer.admin_user() +
      "\"\npassword_file = \"" + bouncer.admin_password_file() + "\"\ninterval = \"1s\"\n" +
      "[[target]]\nname = \"graph\"\nkind = \"neo4j\"\naddress = \"127.0.0.1:" +
      std::to_string(neo4j.port()) + "\"\ninterval = \"1s\"\n";
  DaemonProcess daemon(config);
  std::string text;
  const bool complete =
      wait_until(
          [&] {
            text = daemon.metrics();
            return text.find("pg_stat_replication_replicas{") != std::string::npos &&
                   text.find("pg_database_size_bytes{") != std::string::npos &&
                   text.find("pg_replication_lag_seconds{") != std::string::npos &&
                   text.find("pgvigil_check_ok{") != std::string::npos &&
                   text.find("pg_stat_user_tables_") != std::string::npos &&
                   text.find("redis_db_keys{") != std::string::npos &&
                   text.find("redis_probe_rtt_seconds{") != std::string::npos &&
                   text.find("pgbouncer_pools_client_maxwait_seconds{") != std::string::npos &&
                   text.find("neo4j_cluster_leader_known{") != std::string::npos &&
                   text.find("neo4j_query_rtt_seconds{") != std::string::npos;
          },
          30s, 250ms)
          .has_value();
  INFO("last /metrics:\n" << text.substr(0, 20000));
  REQUIRE(complete);

  const std::string docs =
      pgvigil::test::read_file(std::string(PGVIGIL_SOURCE_DIR) + "/docs/metrics.md");
  REQUIRE_FALSE(docs.empty());
  std::set<std::string> families;
  std::set<std::string> with_help;
  std::istringstream lines(text);
  std::string line;
  const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.eE+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (NaN|\+Inf|-Inf)$)");
  std::size_t samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      families.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.rfind("# HELP ", 0) == 0) {
      auto rest = line.substr(7);
      auto space = rest.find(' ');
      if (space != std::string::npos && space + 1 < rest.size())
        with_help.insert(rest.substr(0, space));
    } else if (!line.empty()) {
      ++samples;
      CHECK_MESSAGE(std::regex_match(line, sample), "unparsable sample line: " << line);
    }
  }
  CHECK(samples > 200);
  for (const auto& family : families) {
    CHECK_MESSAGE(docs.find("`" + family + "`") != std::string::npos,
                  "not in docs/metrics.md: " << family);
    CHECK_MESSAGE(with_help.count(family) == 1, "no HELP text: " << family);
  }
}
