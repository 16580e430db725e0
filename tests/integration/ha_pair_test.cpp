// High availability, end to end on real components: two pgvigil daemons with
// the same config watch one PostgreSQL and push to both members of a
// two-node Alertmanager cluster (Debian's prometheus-alertmanager, gossip on
// loopback), which both notify one webhook receiver. Four deliveries of the
// same alert must page once: the daemons' label sets must be identical (so
// each Alertmanager holds one alert), and the Alertmanagers' gossiped
// notification log must suppress the second member's copy. It must still
// page once after one daemon and one Alertmanager crash.
//
// Why duplicates would show: the route's group_wait is 100ms and its
// repeat_interval 1h, so without deduplication the second Alertmanager sends
// its copy group_wait + peer_timeout (2 s here) after the first, well inside
// the quiet period watched below; a legitimate repeat cannot happen within it.
#include <doctest/doctest.h>
#include <signal.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <iostream>
#include <sstream>
#include <thread>

#include "support/alert_harness.hpp"
#include "support/daemon_process.hpp"
#include "support/pg_cluster.hpp"

using namespace std::chrono_literals;
using pgvigil::test::AlertmanagerOptions;
using pgvigil::test::AlertmanagerProcess;
using pgvigil::test::DaemonProcess;
using pgvigil::test::HttpRecorder;
using pgvigil::test::PgCluster;
using pgvigil::test::wait_until;

namespace {

using Steady = std::chrono::steady_clock;
namespace pt = boost::property_tree;

constexpr auto kPeerTimeout = 2s;    // --cluster.peer-timeout
constexpr auto kGroupInterval = 1s;  // the harness's route
// After the first notification: long enough for the second member's copy
// (group_wait + peer_timeout after the first) twice over, and for a
// group_interval flush on top.
constexpr auto kQuiet = 2 * kPeerTimeout + kGroupInterval + 2s;

// One webhook notification of the PostgresDown group of target "db".
struct GroupNotification {
  Steady::time_point at;
  std::string sender;                                      // the sending Alertmanager's externalURL
  std::vector<std::map<std::string, std::string>> labels;  // of each alert
  std::vector<std::map<std::string, std::string>> annotations;
};

std::optional<pt::ptree> parse_json(const std::string& text) {
  pt::ptree tree;
  try {
    std::istringstream in(text);
    pt::read_json(in, tree);
  } catch (const pt::json_parser_error&) {
    return std::nullopt;
  }
  return tree;
}

std::map<std::string, std::string> string_map(const pt::ptree& node, const std::string& key) {
  std::map<std::string, std::string> out;
  if (const auto child = node.get_child_optional(key))
    for (const auto& [name, value] : *child) out[name] = value.data();
  return out;
}

std::string value_of(const std::map<std::string, std::string>& map, const std::string& key) {
  const auto it = map.find(key);
  return it == map.end() ? std::string{} : it->second;
}

// The notifications of the group (alertname PostgresDown, target db) whose
// group status is `status`, from request `skip` on, in order of arrival.
std::vector<GroupNotification> group_notifications(const HttpRecorder& hook,
                                                   const std::string& status,
                                                   std::size_t skip = 0) {
  std::vector<GroupNotification> out;
  const auto all = hook.requests();
  for (std::size_t i = skip; i < all.size(); ++i) {
    const auto payload = parse_json(all[i].body);
    if (!payload || payload->get<std::string>("status", "") != status) continue;
    const auto group = string_map(*payload, "groupLabels");
    if (group.count("alertname") == 0 || group.at("alertname") != "PostgresDown") continue;
    if (group.count("target") == 0 || group.at("target") != "db") continue;
    GroupNotification notification{all[i].at, payload->get<std::string>("externalURL", ""), {}, {}};
    if (const auto alerts = payload->get_child_optional("alerts"))
      for (const auto& [unused_key, alert] : *alerts) {
        notification.labels.push_back(string_map(alert, "labels"));
        notification.annotations.push_back(string_map(alert, "annotations"));
      }
    out.push_back(std::move(notification));
  }
  return out;
}

// How many PostgresDown alerts of target db an Alertmanager holds (-1 when
// its API does not answer). One per Alertmanager proves that both daemons
// pushed the very same label set.
int held_alerts(const AlertmanagerProcess& alertmanager) {
  const auto reply = pgvigil::test::http_get(alertmanager.port(), "/api/v2/alerts", 2000ms);
  if (reply.status != 200) return -1;
  const auto alerts = parse_json(reply.body);
  if (!alerts) return -1;
  int count = 0;
  for (const auto& [unused_key, alert] : *alerts) {
    const auto labels = string_map(alert, "labels");
    if (labels.count("alertname") != 0 && labels.at("alertname") == "PostgresDown" &&
        labels.count("target") != 0 && labels.at("target") == "db")
      ++count;
  }
  return count;
}

std::string daemon_config(int pg_port, const std::string& password_file,
                          const std::vector<const AlertmanagerProcess*>& alertmanagers) {
  std::string urls;
  for (const auto* alertmanager : alertmanagers)
    urls += (urls.empty() ? "\"" : ", \"") + alertmanager->url() + "\"";
  return "state_directory = \"@STATE@\"\n[server]\nlisten = [\"127.0.0.1:0\"]\n"
         "[log]\nlevel = \"debug\"\n"
         "[alerting]\nalertmanagers = [" +
         urls +
         "]\nevaluation_interval = \"200ms\"\nresend_interval = \"5s\"\nsend_timeout = \"2s\"\n"
         "[alerting.rules.PostgresDown]\nfor = \"2s\"\n"
         "[[target]]\nname = \"db\"\nhost = \"127.0.0.1\"\nport = " +
         std::to_string(pg_port) +
         "\nuser = \"pgvigil_monitor\"\ndbname = \"postgres\"\npassword_file = \"" + password_file +
         "\"\nlabels = { env = \"test\" }\n"
         "[target.probes.liveness]\ninterval = \"200ms\"\n";
}

long long ms_between(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// Nothing in an alert's labels may tell the two daemons apart: no instance
// label, no daemon port or pid (`daemon_ids`) in any value.
void check_no_instance_labels(const std::map<std::string, std::string>& labels,
                              const std::vector<std::string>& daemon_ids) {
  CHECK(labels.count("instance") == 0);
  for (const auto& [name, value] : labels) {
    INFO("label " << name << "=" << value);
    for (const auto& id : daemon_ids) CHECK(value.find(id) == std::string::npos);
  }
}

std::string describe(const std::vector<GroupNotification>& notifications, Steady::time_point t0) {
  std::ostringstream out;
  for (const auto& n : notifications) {
    out << "  +" << ms_between(t0, n.at) << " ms from " << n.sender << ":";
    for (const auto& labels : n.labels) {
      out << " {";
      for (const auto& [name, value] : labels) out << name << "=" << value << " ";
      out << "}";
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace

TEST_CASE("ha pair: two daemons and two clustered Alertmanagers page once, also after crashes") {
  if (!pgvigil::test::has_alertmanager()) {
    MESSAGE("prometheus-alertmanager is not installed; skipping");
    return;
  }
  const auto test_start = Steady::now();
  HttpRecorder hook;

  // Two gossip ports, told apart (a free port is only free a moment ago).
  const int gossip_a = pgvigil::test::free_loopback_port();
  int gossip_b = pgvigil::test::free_loopback_port();
  for (int i = 0; i < 10 && gossip_b == gossip_a; ++i)
    gossip_b = pgvigil::test::free_loopback_port();
  REQUIRE(gossip_a != gossip_b);
  auto member = [&](int own, int peer) {
    AlertmanagerOptions options;
    options.webhook_port = hook.port();
    options.cluster_port = own;
    options.cluster_peers = {"127.0.0.1:" + std::to_string(peer)};
    options.cluster_peer_timeout = kPeerTimeout;
    return options;
  };
  AlertmanagerProcess am_a(member(gossip_a, gossip_b));
  AlertmanagerProcess am_b(member(gossip_b, gossip_a));
  am_a.start();  // its first join fails (b is not up yet); b joins it
  am_b.start();
  const auto clustered = wait_until(
      [&] {
        for (const auto* am : {&am_a, &am_b}) {
          const auto status = am->cluster_status();
          if (status.status != "ready" || status.peers.size() != 2) return false;
        }
        return true;
      },
      20s, 100ms);
  if (!clustered) std::cerr << am_a.log() << am_b.log();
  REQUIRE(clustered);
  std::cout << "ha pair: Alertmanager cluster ready with 2 peers " << clustered->count()
            << " ms after both started\n";

  PgCluster cluster;
  const auto config =
      daemon_config(cluster.primary_port(), cluster.monitor_password_file(), {&am_a, &am_b});
  DaemonProcess daemon_a(config);
  DaemonProcess daemon_b(config);
  REQUIRE(wait_until(
      [&] {
        return daemon_a.metric("pg_up", {{"target", "db"}}) == 1.0 &&
               daemon_b.metric("pg_up", {{"target", "db"}}) == 1.0;
      },
      15s));
  const std::vector<const DaemonProcess*> daemons{&daemon_a, &daemon_b};
  std::vector<std::string> daemon_ids;
  for (const auto* daemon : daemons) {
    daemon_ids.push_back(std::to_string(daemon->port()));
    daemon_ids.push_back(std::to_string(daemon->pid()));
  }
  auto dump_logs = [&] {
    std::cerr << "--- pgvigil a\n"
              << daemon_a.log() << "--- pgvigil b\n"
              << daemon_b.log() << "--- alertmanager a\n"
              << am_a.log() << "--- alertmanager b\n"
              << am_b.log();
  };

  // ---- 1: the server dies; both daemons push to both Alertmanagers.
  const auto killed = Steady::now();
  cluster.kill_server("primary");
  const bool fired =
      wait_until([&] { return !group_notifications(hook, "firing").empty(); }, 20s, 20ms)
          .has_value();
  if (!fired) dump_logs();
  REQUIRE(fired);
  const auto first = group_notifications(hook, "firing").front();
  std::cout << "ha pair: PostgresDown reached the webhook " << ms_between(killed, first.at)
            << " ms after the SIGKILL (for = 2000 ms), sent by " << first.sender << "\n";
  // A duplicate would arrive within the quiet period; stop early if it does.
  wait_until(
      [&] { return group_notifications(hook, "firing").size() > 1; },
      std::chrono::duration_cast<std::chrono::milliseconds>(first.at + kQuiet - Steady::now()),
      50ms);
  auto firing = group_notifications(hook, "firing");
  INFO("firing notifications of the group:\n" << describe(firing, killed));
  CHECK(firing.size() == 1);
  REQUIRE(first.labels.size() == 1);
  check_no_instance_labels(first.labels.front(), daemon_ids);
  // Both daemons delivered to both Alertmanagers (four deliveries, one page),
  // and each Alertmanager merged them into one alert.
  for (const auto* daemon : daemons)
    for (const auto* am : {&am_a, &am_b})
      CHECK(daemon
                ->metric("pgvigil_alertmanager_notifications_total",
                         {{"alertmanager", am->url()}, {"result", "success"}})
                .value_or(0) >= 1);
  CHECK(held_alerts(am_a) == 1);
  CHECK(held_alerts(am_b) == 1);
  std::cout << "ha pair: runbook_url of the page: "
            << value_of(first.annotations.front(), "runbook_url") << " (daemon ports "
            << daemon_a.port() << ", " << daemon_b.port() << ")\n";

  // ---- 2: one daemon and the Alertmanager that paged crash; a new outage
  // must still page exactly once, through the survivors. Killing the member
  // that paged is the harder case: the survivor, which deferred to it, must
  // now send itself (once its dead peer is no longer ahead of it).
  // The sender is named by its externalURL (by default http://HOSTNAME:PORT).
  auto sent_by = [](const GroupNotification& n, const AlertmanagerProcess& am) {
    const auto port = ":" + std::to_string(am.port());
    return n.sender.ends_with(port) || n.sender.ends_with(port + "/");
  };
  const bool a_paged = sent_by(first, am_a);
  CHECK(a_paged != sent_by(first, am_b));
  AlertmanagerProcess& dead_am = a_paged ? am_a : am_b;
  const AlertmanagerProcess& live_am = a_paged ? am_b : am_a;
  dead_am.kill();
  daemon_a.signal(SIGKILL);
  CHECK(daemon_a.terminate(3s) == 128 + SIGKILL);  // reaps it

  const auto after_first = hook.count();
  const auto restarted = Steady::now();
  cluster.start_server("primary");
  std::cout << "ha pair: PostgreSQL restarted in " << ms_between(restarted, Steady::now())
            << " ms\n";
  const bool resolved =
      wait_until([&] { return !group_notifications(hook, "resolved", after_first).empty(); }, 30s,
                 50ms)
          .has_value();
  if (!resolved) dump_logs();
  REQUIRE(resolved);
  std::cout << "ha pair: resolved reached the webhook "
            << ms_between(restarted, group_notifications(hook, "resolved", after_first).front().at)
            << " ms after the restart began\n";
  // The survivor knew (from the gossiped notification log) that the first
  // outage was already paged: no second page for it after its peer died.
  CHECK(group_notifications(hook, "firing", after_first).empty());

  const auto after_resolved = hook.count();
  const auto killed_again = Steady::now();
  cluster.kill_server("primary");
  const bool refired =
      wait_until([&] { return !group_notifications(hook, "firing", after_resolved).empty(); }, 30s,
                 20ms)
          .has_value();
  if (!refired) dump_logs();
  REQUIRE(refired);
  const auto second = group_notifications(hook, "firing", after_resolved).front();
  std::cout << "ha pair: after the crashes, PostgresDown reached the webhook "
            << ms_between(killed_again, second.at) << " ms after the SIGKILL, sent by "
            << second.sender << "\n";
  wait_until(
      [&] { return group_notifications(hook, "firing", after_resolved).size() > 1; },
      std::chrono::duration_cast<std::chrono::milliseconds>(second.at + kQuiet - Steady::now()),
      50ms);
  firing = group_notifications(hook, "firing", after_resolved);
  INFO("firing notifications of the group after the crashes:\n" << describe(firing, killed_again));
  CHECK(firing.size() == 1);
  CHECK(sent_by(second, live_am));
  REQUIRE(second.labels.size() == 1);
  check_no_instance_labels(second.labels.front(), daemon_ids);
  CHECK(second.labels.front() == first.labels.front());
  // Only the surviving daemon sent this alert: its runbook link is the live one.
  CHECK(value_of(second.annotations.front(), "runbook_url")
            .find("127.0.0.1:" + std::to_string(daemon_b.port()) + "/") != std::string::npos);
  CHECK(held_alerts(live_am) == 1);
  std::cout << "ha pair: run time " << ms_between(test_start, Steady::now()) << " ms\n";
}
