// Issue 7: alerts evaluated in the daemon and pushed to a real Alertmanager
// (Debian's prometheus-alertmanager on loopback), whose webhook receiver is a
// small HTTP listener run by the test. Also the Alertmanager client alone,
// against that listener, a closed port and a listener that never answers.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "alerts/alertmanager_payload.hpp"
#include "daemon/alertmanager_client.hpp"
#include "support/alert_harness.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::DaemonProcess;
using pgvigil::test::PgCluster;
using pgvigil::test::TestConnection;
using pgvigil::test::wait_until;

namespace {

using Steady = std::chrono::steady_clock;

using pgvigil::test::AlertmanagerOptions;
using pgvigil::test::AlertmanagerProcess;
using pgvigil::test::has_alertmanager;
using pgvigil::test::HttpRecorder;

// An Alertmanager that groups by alertname and target and notifies `hook`.
AlertmanagerOptions alertmanager_for(const HttpRecorder& hook, std::string web_config = {}) {
  AlertmanagerOptions options;
  options.webhook_port = hook.port();
  options.web_config = std::move(web_config);
  return options;
}

// The webhook bodies that carry alert `name` with top-level `status`
// (Alertmanager groups by alertname and target here, so one body = one group).
std::vector<HttpRecorder::Request> notifications(const HttpRecorder& hook, const std::string& name,
                                                 const std::string& status, std::size_t skip = 0) {
  std::vector<HttpRecorder::Request> out;
  const auto all = hook.requests();
  for (std::size_t i = skip; i < all.size(); ++i) {
    const auto& body = all[i].body;
    if (body.find("\"alertname\":\"" + name + "\"") == std::string::npos) continue;
    // The group's own status comes after its alerts in Alertmanager's payload;
    // with one alert per group both say the same.
    if (body.find("\"status\":\"" + status + "\"") == std::string::npos) continue;
    out.push_back(all[i]);
  }
  return out;
}

double counter(prometheus::Registry& registry, const std::string& name, const std::string& result) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    double total = 0;
    for (const auto& metric : family.metric)
      for (const auto& label : metric.label)
        if (label.name == "result" && label.value == result) total += metric.counter.value;
    return total;
  }
  return 0;
}

pgvigil::alerts::Alert sample_alert() {
  pgvigil::alerts::Alert alert;
  alert.rule = "PostgresDown";
  alert.target = "db1";
  alert.labels = {{"alertname", "PostgresDown"},
                  {"reason", "refused"},
                  {"severity", "critical"},
                  {"target", "db1"}};
  alert.summary = "PostgreSQL db1 is down (refused)";
  alert.description = "a \"quoted\"\nline";
  alert.runbook_url = "https://example.invalid/PostgresDown.md";
  alert.evidence = "reason: refused\n";
  alert.state = pgvigil::alerts::AlertState::firing;
  alert.fired_at = pgvigil::alerts::Clock::time_point(std::chrono::milliseconds(1'500));
  return alert;
}

}  // namespace

TEST_CASE("alertmanager client: URL parsing, base64, timestamps and the alert JSON") {
  std::string error;
  auto url = pgvigil::parse_alertmanager_url("http://127.0.0.1:9093/", &error);
  REQUIRE(url);
  CHECK(url->host == "127.0.0.1");
  CHECK(url->port == "9093");
  CHECK(url->path.empty());
  url = pgvigil::parse_alertmanager_url("http://am.example:80/prefix/", &error);
  REQUIRE(url);
  CHECK(url->path == "/prefix");
  url = pgvigil::parse_alertmanager_url("http://[::1]:9093", &error);
  REQUIRE(url);
  CHECK(url->host == "::1");
  CHECK(url->port == "9093");
  CHECK_FALSE(pgvigil::parse_alertmanager_url("http://user:secret@am:9093", &error));
  CHECK(error.find("secret") == std::string::npos);
  url = pgvigil::parse_alertmanager_url("https://am.example/", &error);
  REQUIRE(url);
  CHECK(url->tls);
  CHECK(url->port == "443");
  // One URL parser for every outbound request: the display (and the
  // alertmanager label) names the port even where the URL leaves it out.
  CHECK(url->display == "https://am.example:443");
  CHECK_FALSE(pgvigil::parse_alertmanager_url("http://am:99x", &error));
  CHECK_FALSE(pgvigil::parse_alertmanager_url("ftp://am", &error));

  CHECK(pgvigil::base64_encode("user:pass") == "dXNlcjpwYXNz");
  CHECK(pgvigil::base64_encode("a") == "YQ==");
  CHECK(pgvigil::base64_encode("ab") == "YWI=");
  CHECK(pgvigil::base64_encode("") == "");

  CHECK(pgvigil::alerts::rfc3339(pgvigil::alerts::Clock::time_point(
            std::chrono::milliseconds(1'500))) == "1970-01-01T00:00:01.500Z");

  auto alert = sample_alert();
  const auto ends = pgvigil::alerts::Clock::time_point(std::chrono::seconds(241));
  auto json = pgvigil::alerts::alert_json(alert, ends, "http://h:1/api/v1/alerts");
  CHECK(json.find("\"labels\":{\"alertname\":\"PostgresDown\",\"reason\":\"refused\"") !=
        std::string::npos);
  CHECK(json.find("\"description\":\"a \\\"quoted\\\"\\nline\"") != std::string::npos);
  CHECK(json.find("\"evidence\":\"reason: refused\\n\"") != std::string::npos);
  CHECK(json.find("\"startsAt\":\"1970-01-01T00:00:01.500Z\"") != std::string::npos);
  CHECK(json.find("\"endsAt\":\"1970-01-01T00:04:01.000Z\"") != std::string::npos);
  CHECK(json.find("\"generatorURL\":\"http://h:1/api/v1/alerts\"") != std::string::npos);
  alert.state = pgvigil::alerts::AlertState::resolved;
  alert.resolved_at = pgvigil::alerts::Clock::time_point(std::chrono::seconds(60));
  json = pgvigil::alerts::alert_json(alert, ends, "x");
  CHECK(json.find("\"endsAt\":\"1970-01-01T00:01:00.000Z\"") != std::string::npos);
}

TEST_CASE("alertmanager client: authorization from files, secrets stay out of errors") {
  const auto dir = pgvigil::test::make_temp_dir("pgvigil-am-auth");
  pgvigil::test::write_file(dir + "/token", "s3cr3t-token\n");
  pgvigil::test::write_file(dir + "/password", "pa55\n");
  pgvigil::config::AlertingConfig alerting;
  std::string error;
  alerting.bearer_token_file = dir + "/token";
  CHECK(pgvigil::alertmanager_authorization(alerting, &error) == "Bearer s3cr3t-token");
  alerting.bearer_token_file.clear();
  alerting.basic_auth_user = "pgvigil";
  alerting.basic_auth_password_file = dir + "/password";
  CHECK(pgvigil::alertmanager_authorization(alerting, &error) ==
        "Basic " + pgvigil::base64_encode("pgvigil:pa55"));
  alerting.basic_auth_password_file = dir + "/missing";
  CHECK(pgvigil::alertmanager_authorization(alerting, &error).empty());
  CHECK(error.find(dir + "/missing") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("alertmanager client: posts to every Alertmanager, dead ones only count failures") {
  HttpRecorder good;
  HttpRecorder rejecting(400);
  const int closed_port = pgvigil::test::free_loopback_port();
  boost::asio::io_context io;
  prometheus::Registry registry;
  pgvigil::AlertmanagerClient client(io, registry);
  pgvigil::AlertmanagerClientOptions options;
  options.urls = {"http://127.0.0.1:" + std::to_string(good.port()) + "/am",
                  "http://127.0.0.1:" + std::to_string(closed_port),
                  "http://127.0.0.1:" + std::to_string(rejecting.port())};
  options.timeout = 2s;
  options.authorization = "Bearer tok";
  options.backoff_initial = 100ms;
  options.backoff_cap = 200ms;
  client.configure(options);
  REQUIRE(client.alertmanager_count() == 3);

  const auto before = Steady::now();
  client.send({{"fp1", pgvigil::alerts::alert_json(sample_alert(), {}, "g")}});
  CHECK(Steady::now() - before < 50ms);  // queued, nothing done inline

  io.run_for(1500ms);
  const auto received = good.requests();
  REQUIRE(received.size() == 1);
  CHECK(received[0].head.starts_with("POST /am/api/v2/alerts HTTP/1.1"));
  CHECK(received[0].head.find("Authorization: Bearer tok") != std::string::npos);
  CHECK(received[0].head.find("Content-Type: application/json") != std::string::npos);
  CHECK(received[0].body.starts_with("[{\"labels\":{\"alertname\":\"PostgresDown\""));
  CHECK(received[0].body.ends_with("}]"));
  CHECK(client.queued(0) == 0);
  // The closed port keeps its alert and retries with backoff.
  CHECK(client.queued(1) == 1);
  CHECK(counter(registry, "pgvigil_alertmanager_notifications_total", "failure") >= 3);
  // A 4xx is not retried: the alert is dropped for that Alertmanager.
  CHECK(rejecting.count() == 1);
  CHECK(client.queued(2) == 0);
  CHECK(counter(registry, "pgvigil_alertmanager_notifications_total", "rejected") == 1);
  CHECK(counter(registry, "pgvigil_alertmanager_notifications_total", "success") == 1);
  client.stop();
}

TEST_CASE("alertmanager client: a silent Alertmanager times out instead of hanging") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);  // accepts (kernel backlog), never answers
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);

  boost::asio::io_context io;
  prometheus::Registry registry;
  pgvigil::AlertmanagerClient client(io, registry);
  pgvigil::AlertmanagerClientOptions options;
  options.urls = {"http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))};
  options.timeout = 300ms;
  options.backoff_initial = 5s;
  client.configure(options);
  client.send({{"fp1", pgvigil::alerts::alert_json(sample_alert(), {}, "g")}});
  io.run_for(1s);
  CHECK(counter(registry, "pgvigil_alertmanager_notifications_total", "failure") == 1);
  CHECK(client.queued(0) == 1);
  client.stop();
  ::close(fd);
}

TEST_CASE("alertmanager client: https to a real Alertmanager, certificate verified") {
  int code = 0;
  pgvigil::test::run_command("command -v openssl", &code);
  if (!has_alertmanager() || code != 0) {
    MESSAGE("prometheus-alertmanager or openssl is not installed; skipping");
    return;
  }
  const auto dir = pgvigil::test::make_temp_dir("pgvigil-am-tls");
  const auto out = pgvigil::test::run_command(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
          dir + "/key.pem -out " + dir + "/cert.pem 2>&1",
      &code);
  REQUIRE_MESSAGE(code == 0, out);
  HttpRecorder hook;
  AlertmanagerProcess alertmanager(alertmanager_for(
      hook,
      "tls_server_config:\n  cert_file: " + dir + "/cert.pem\n  key_file: " + dir + "/key.pem\n"));
  alertmanager.start();

  auto alert = sample_alert();
  alert.fired_at = pgvigil::alerts::Clock::now();
  const auto json = pgvigil::alerts::alert_json(alert, alert.fired_at + 4min, "http://h/");
  const auto deliver = [&](prometheus::Registry& registry) {
    boost::asio::io_context io;
    pgvigil::AlertmanagerClient client(io, registry);
    pgvigil::AlertmanagerClientOptions options;
    options.urls = {"https://127.0.0.1:" + std::to_string(alertmanager.port())};
    options.timeout = 3s;
    options.backoff_initial = 10s;
    client.configure(options);
    client.send({{"fp", json}});
    const auto until = Steady::now() + 5s;
    while (Steady::now() < until &&
           counter(registry, "pgvigil_alertmanager_notifications_total", "success") +
                   counter(registry, "pgvigil_alertmanager_notifications_total", "failure") +
                   counter(registry, "pgvigil_alertmanager_notifications_total", "rejected") ==
               0)
      io.run_for(50ms);
    client.stop();
  };

  // Trusted through OpenSSL's SSL_CERT_FILE: delivered.
  const char* previous = std::getenv("SSL_CERT_FILE");
  const std::string saved = previous ? previous : "";
  ::setenv("SSL_CERT_FILE", (dir + "/cert.pem").c_str(), 1);
  prometheus::Registry trusted;
  deliver(trusted);
  if (previous)
    ::setenv("SSL_CERT_FILE", saved.c_str(), 1);
  else
    ::unsetenv("SSL_CERT_FILE");
  CHECK(counter(trusted, "pgvigil_alertmanager_notifications_total", "success") == 1);
  const auto api = pgvigil::test::run_command(
      "curl -sk https://127.0.0.1:" + std::to_string(alertmanager.port()) + "/api/v2/alerts");
  CHECK(api.find("PostgresDown") != std::string::npos);

  // A self-signed certificate the system does not trust: refused.
  prometheus::Registry untrusted;
  deliver(untrusted);
  CHECK(counter(untrusted, "pgvigil_alertmanager_notifications_total", "success") == 0);
  CHECK(counter(untrusted, "pgvigil_alertmanager_notifications_total", "failure") == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("alerting: PostgresDown, LongRunningQuery and an Alertmanager outage, end to end") {
  if (!has_alertmanager()) {
    MESSAGE("prometheus-alertmanager is not installed; skipping");
    return;
  }
  HttpRecorder hook;
  AlertmanagerProcess alertmanager(alertmanager_for(hook));
  alertmanager.start();
  PgCluster cluster;
  const int port = cluster.primary_port();
  constexpr auto kFor = 2s;

  DaemonProcess daemon(
      "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
      "[log]\nlevel = \"debug\"\n"
      "[alerting]\nalertmanagers = [\"http://127.0.0.1:" +
      std::to_string(alertmanager.port()) +
      "\"]\nevaluation_interval = \"200ms\"\nresend_interval = \"5s\"\nsend_timeout = \"2s\"\n"
      "[alerting.rules.PostgresDown]\nfor = \"2s\"\n"
      "[alerting.rules.PostgresLongRunningQuery]\nthreshold = \"3s\"\n"
      "[[target]]\nname = \"db\"\nhost = \"127.0.0.1\"\nport = " +
      std::to_string(port) +
      "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" +
      cluster.monitor_password_file() +
      "\"\nlabels = { env = \"test\" }\n"
      "[target.probes.liveness]\ninterval = \"200ms\"\n"
      "[target.probes.activity]\ninterval = \"1s\"\n");
  REQUIRE(wait_until([&] { return daemon.metric("pg_up", {{"target", "db"}}) == 1.0; }, 15s));

  SUBCASE("down, delivered within for + 2 s, resolved after restart") {
    cluster.stop_server("primary");
    const auto stopped = Steady::now();
    const bool fired = wait_until(
                           [&] {
                             for (const auto& r : notifications(hook, "PostgresDown", "firing"))
                               if (r.body.find("\"reason\":\"refused\"") != std::string::npos)
                                 return true;
                             return false;
                           },
                           30s, 20ms)
                           .has_value();
    if (!fired) std::cerr << daemon.log() << alertmanager.log();
    REQUIRE(fired);
    const auto firing = notifications(hook, "PostgresDown", "firing").front();
    const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(firing.at - stopped);
    std::cout << "PostgresDown reached the webhook " << latency.count()
              << " ms after the server stopped (for = 2000 ms)\n";
    CHECK(latency <= kFor + 2s);
    CHECK(firing.body.find("\"severity\":\"critical\"") != std::string::npos);
    CHECK(firing.body.find("\"target\":\"db\"") != std::string::npos);
    CHECK(firing.body.find("\"env\":\"test\"") != std::string::npos);
    // runbook_url: the page the daemon itself serves.
    CHECK(firing.body.find("\"runbook_url\":\"http://127.0.0.1:" + std::to_string(daemon.port()) +
                           "/runbooks/PostgresDown.md\"") != std::string::npos);
    const auto page = pgvigil::test::http_get(daemon.port(), "/runbooks/PostgresDown.md");
    CHECK(page.status == 200);
    CHECK(page.body.starts_with("# PostgresDown"));
    CHECK(firing.body.find("reason: refused") != std::string::npos);  // evidence
    CHECK(firing.body.find("/api/v1/alerts?alertname=PostgresDown") != std::string::npos);
    CHECK(firing.body.find(cluster.monitor_password()) == std::string::npos);

    const auto api = pgvigil::test::http_get(daemon.port(), "/api/v1/alerts");
    CHECK(api.status == 200);
    CHECK(api.body.find("\"alertname\":\"PostgresDown\"") != std::string::npos);
    CHECK(api.body.find("\"state\":\"firing\"") != std::string::npos);
    CHECK(pgvigil::test::http_get(daemon.port(), "/").body.find("PostgresDown") !=
          std::string::npos);
    CHECK(daemon.metric("pgvigil_alerts", {{"alertname", "PostgresDown"}, {"state", "firing"}}) ==
          1.0);
    CHECK(daemon.metric("pgvigil_alert_active", {{"alertname", "PostgresDown"},
                                                 {"reason", "refused"},
                                                 {"alertstate", "firing"}}) == 1.0);

    cluster.start_server("primary");
    const auto restarted = Steady::now();
    const auto resolved = wait_until(
        [&] { return !notifications(hook, "PostgresDown", "resolved").empty(); }, 30s, 20ms);
    REQUIRE(resolved);
    std::cout << "PostgresDown resolution reached the webhook "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     notifications(hook, "PostgresDown", "resolved").front().at - restarted)
                     .count()
              << " ms after the restart\n";
    CHECK(daemon.metric("pgvigil_alertmanager_notifications_total", {{"result", "success"}})
              .value_or(0) >= 2);
  }

  SUBCASE("a long pg_sleep: the evidence names its pid and text") {
    TestConnection sleeper(cluster.conninfo(port));
    const int pid = sleeper.backend_pid();
    sleeper.send("SELECT pg_sleep(30) /* alerting-test */");
    const bool fired =
        wait_until(
            [&] { return !notifications(hook, "PostgresLongRunningQuery", "firing").empty(); }, 30s,
            100ms)
            .has_value();
    if (!fired) std::cerr << daemon.log();
    REQUIRE(fired);
    const auto body = notifications(hook, "PostgresLongRunningQuery", "firing").front().body;
    CHECK(body.find("\"evidence\":") != std::string::npos);
    CHECK(body.find("pid " + std::to_string(pid) + " ") != std::string::npos);
    CHECK(body.find("SELECT pg_sleep(30) /* alerting-test */") != std::string::npos);
    CHECK(body.find("/runbooks/PostgresLongRunningQuery.md") != std::string::npos);
    // End the sleep now rather than at the cluster's shutdown.
    TestConnection admin(cluster.conninfo(port));
    admin.query("SELECT pg_cancel_backend(" + std::to_string(pid) + ")");
  }

  SUBCASE("Alertmanager down, then up: the alert still arrives") {
    alertmanager.stop();
    const auto before = hook.count();
    cluster.stop_server("primary");
    // Past `for`: the daemon has tried and failed to deliver by now.
    REQUIRE(wait_until(
        [&] {
          return daemon.metric("pgvigil_alertmanager_notifications_total", {{"result", "failure"}})
                     .value_or(0) >= 1;
        },
        15s, 100ms));
    std::this_thread::sleep_for(2s);
    CHECK(notifications(hook, "PostgresDown", "firing", before).empty());
    alertmanager.start();
    const auto back = Steady::now();
    const bool arrived =
        wait_until([&] { return !notifications(hook, "PostgresDown", "firing", before).empty(); },
                   40s, 50ms)
            .has_value();
    if (!arrived) std::cerr << daemon.log() << alertmanager.log();
    REQUIRE(arrived);
    std::cout << "after the outage, PostgresDown arrived "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     notifications(hook, "PostgresDown", "firing", before).front().at - back)
                     .count()
              << " ms after Alertmanager came back\n";
    cluster.start_server("primary");
  }
}
