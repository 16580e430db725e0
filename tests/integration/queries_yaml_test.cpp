// Issue 18: a queries.yaml in postgres_exporter's format, read as it is, gives
// the names and values postgres_exporter 0.11.1 (Debian's, the benchmark peer)
// gives from the same file against the same server, compared side by side.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::http_get;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

constexpr const char* kExporter = "/usr/bin/prometheus-postgres-exporter";

// name -> {labels without target/server -> value}, for families starting with prefix.
using Samples = std::map<std::string, std::map<std::string, double>>;

Samples samples(const std::string& text, const std::string& prefix) {
  Samples out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(prefix, 0) != 0) continue;
    const auto name_end = line.find_first_of("{ ");
    const std::string name = line.substr(0, name_end);
    std::set<std::string> labels;
    std::size_t value_at = line.find(' ', name_end);
    if (line[name_end] == '{') {
      const auto close = line.rfind('}');
      std::string inner = line.substr(name_end + 1, close - name_end - 1);
      // label="value" pairs; values here never hold '",'.
      std::size_t pos = 0;
      while (pos < inner.size()) {
        auto end = inner.find("\",", pos);
        std::string pair =
            inner.substr(pos, end == std::string::npos ? std::string::npos : end + 1 - pos);
        if (pair.rfind("target=", 0) != 0 && pair.rfind("server=", 0) != 0) labels.insert(pair);
        if (end == std::string::npos) break;
        pos = end + 2;
      }
      value_at = line.find(' ', close);
    }
    std::string key;
    for (const auto& l : labels) key += l + ",";
    out[name][key] = std::stod(line.substr(value_at + 1));
  }
  return out;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The exporter as its own process; stopped when this goes out of scope.
struct Exporter {
  pid_t pid = -1;
  int port = free_port();
  std::string log;
  Exporter(const std::string& dsn, const std::string& queries, const std::string& dir) {
    log = dir + "/exporter.log";
    pid = ::fork();
    if (pid == 0) {
      ::setenv("DATA_SOURCE_NAME", dsn.c_str(), 1);
      const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port);
      const std::string query_path = "--extend.query-path=" + queries;
      if (FILE* f = std::freopen(log.c_str(), "w", stderr)) (void)f;
      ::execl(kExporter, kExporter, listen.c_str(), query_path.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Exporter() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(50ms);
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  std::string metrics() const { return http_get(port, "/metrics", 5s).body; }
};

}  // namespace

TEST_CASE("queries.yaml: the same names and values as postgres_exporter 0.11.1, side by side") {
  if (::access(kExporter, X_OK) != 0) {
    FAIL("prometheus-postgres-exporter is not installed (scripts/install-deps)");
  }
  PgCluster cluster;
  const int port = cluster.primary_port();
  TestConnection admin(cluster.conninfo(port));
  admin.query("CREATE TABLE jobs (queue text, status text, attempts int, note text)");
  admin.query(
      "INSERT INTO jobs VALUES ('mail', 'ready', 1, 'a'), ('mail', 'ready', 2, 'b'), "
      "('mail', 'failed', 5, NULL), ('sms', 'ready', NULL, NULL)");
  admin.query("CREATE TABLE quiet (id int PRIMARY KEY, v text)");
  admin.query("INSERT INTO quiet SELECT g, 'x' FROM generate_series(1, 100) g");
  admin.query("VACUUM ANALYZE quiet");
  admin.query("DELETE FROM quiet WHERE id > 90");
  admin.query("GRANT SELECT ON jobs TO pgvigil_monitor");
  // The statistics settle before either exporter reads them: pgvigil keeps a
  // round for its interval, postgres_exporter queries on every scrape.
  admin.flush_statistics();
  TestConnection observer(cluster.conninfo(port));
  REQUIRE(wait_until(
      [&] {
        return observer.query(
                   "SELECT n_dead_tup::text FROM pg_stat_user_tables WHERE relname = "
                   "'quiet'")[0][0] == "10";
      },
      15s, 200ms));

  const std::string source = std::string(PGVIGIL_SOURCE_DIR) + "/tests/data/queries/queries.yaml";
  const std::string password = [&] {
    std::string text = pgvigil::test::read_file(cluster.monitor_password_file());
    return text.substr(0, text.find('\n'));
  }();
  DaemonProcess daemon(
      "state_directory = \"@STATE@\"\ncollector_files = [\"" + source +
      "\"]\n[server]\nlisten = [\"127.0.0.1:0\"]\n[[target]]\nname = \"db\"\nhost = "
      "\"127.0.0.1\"\nport = " +
      std::to_string(port) + "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\n" +
      "password_file = \"" + cluster.monitor_password_file() + "\"\n");
  // Unmappable usages are named at load.
  CHECK(daemon.log().find("column state has usage MAPPEDMETRIC") != std::string::npos);
  CHECK(daemon.log().find("column took has usage DURATION") != std::string::npos);

  Exporter exporter("postgresql://pgvigil_monitor:" + password +
                        "@127.0.0.1:" + std::to_string(port) + "/postgres?sslmode=disable",
                    source, daemon.dir());
  REQUIRE(wait_until([&] { return exporter.metrics().find("app_jobs_depth") != std::string::npos; },
                     15s));
  REQUIRE(wait_until(
      [&] { return daemon.metrics().find("app_statio_user_tables_") != std::string::npos; }, 15s));

  // Both read `jobs`, so its scan and block counters move between the two
  // scrapes; every other series must agree exactly. Counters settle once the
  // servers' statistics are flushed, hence the bounded retry.
  const auto moving = [](const std::string& name, const std::string& labels) {
    return labels.find("relname=\"jobs\"") != std::string::npos &&
           (name.rfind("app_user_tables_", 0) == 0 ||
            name.rfind("app_statio_user_tables_", 0) == 0);
  };
  std::string differences;
  const auto agree = [&] {
    const Samples theirs = samples(exporter.metrics(), "app_");
    const Samples ours = samples(daemon.metrics(), "app_");
    differences.clear();
    std::set<std::string> names;
    for (const auto& [name, _] : theirs) names.insert(name);
    for (const auto& [name, _] : ours) names.insert(name);
    for (const auto& name : names) {
      if (name.rfind("app_mapped_state", 0) == 0 || name.rfind("app_mapped_took", 0) == 0)
        continue;  // MAPPEDMETRIC and DURATION: reported at load, not mapped
      const auto t = theirs.find(name);
      const auto o = ours.find(name);
      if (t == theirs.end() || o == ours.end()) {
        differences +=
            name + (t == theirs.end() ? " only in pgvigil\n" : " only in postgres_exporter\n");
        continue;
      }
      std::size_t expected = 0;
      for (const auto& [labels, value] : t->second) {
        const auto mine = o->second.find(labels);
        // postgres_exporter turns NULL into NaN; pgvigil emits no sample.
        if (std::isnan(value)) {
          if (mine != o->second.end())
            differences += name + "{" + labels + "} NULL gave a sample\n";
          continue;
        }
        ++expected;
        if (mine == o->second.end()) {
          differences += name + "{" + labels + "} missing in pgvigil\n";
        } else if (!moving(name, labels) && mine->second != value) {
          differences += name + "{" + labels + "} " + std::to_string(value) + " vs " +
                         std::to_string(mine->second) + "\n";
        }
      }
      if (o->second.size() != expected) differences += name + ": series counts differ\n";
    }
    return differences.empty();
  };
  const bool same = wait_until(agree, 20s, 1s).has_value();
  INFO(differences);
  CHECK(same);
  const Samples theirs = samples(exporter.metrics(), "app_");
  // postgres_exporter maps DURATION (as <name>_milliseconds); pgvigil said it cannot.
  CHECK(theirs.count("app_mapped_took_milliseconds") == 1);
  CHECK(theirs.count("app_user_tables_n_dead_tup") == 1);
  CHECK(samples(daemon.metrics(), "app_mapped_t").empty());
  CHECK(samples(daemon.metrics(), "app_mapped_s").empty());
  CHECK(wait_until(
      [&] {
        return daemon.metric("app_user_tables_n_dead_tup", {{"target", "db"},
                                                            {"relname", "quiet"},
                                                            {"schemaname", "public"},
                                                            {"datname", "postgres"}}) == 10.0;
      },
      15s));
}

TEST_CASE(
    "convert-queries: prints collectors that check-config accepts, names what it cannot map") {
  const std::string binary = PGVIGIL_BINARY;
  const std::string source = std::string(PGVIGIL_SOURCE_DIR) + "/tests/data/queries/queries.yaml";
  const std::string dir = pgvigil::test::make_temp_dir("pgvigil-convert");
  int code = -1;
  const std::string out = pgvigil::test::run_command(
      binary + " convert-queries " + source + " 2>" + dir + "/stderr >" + dir + "/converted.toml",
      &code);
  CHECK(code == 0);
  const std::string converted = pgvigil::test::read_file(dir + "/converted.toml");
  const std::string warnings = pgvigil::test::read_file(dir + "/stderr");
  CHECK(converted.find("[[collector]]\nname = \"app_user_tables\"") != std::string::npos);
  CHECK(warnings.find("column took has usage DURATION") != std::string::npos);
  pgvigil::test::write_file(dir + "/main.toml",
                            "collector_files = [\"converted.toml\"]\n[[target]]\nname = \"a\"\n"
                            "host = \"127.0.0.1\"\n");
  const std::string checked =
      pgvigil::test::run_command(binary + " check-config " + dir + "/main.toml 2>&1", &code);
  INFO(checked);
  CHECK(code == 0);
  CHECK(checked.find("name = 'app_statio_user_tables'") != std::string::npos);
  // Bad input: exit 1 with file:line.
  pgvigil::test::write_file(dir + "/bad.yaml", "a:\n  query: SELECT 1\n  metrics: 3\n");
  const std::string bad =
      pgvigil::test::run_command(binary + " convert-queries " + dir + "/bad.yaml 2>&1", &code);
  CHECK(code == 1);
  CHECK(bad.find(dir + "/bad.yaml:3:") != std::string::npos);
}
