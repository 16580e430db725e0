#pragma once
// Test-only: a real Patroni cluster on loopback. One etcd (the DCS) and two
// Patroni members, each managing its own PostgreSQL 15, all in one temporary
// directory: member "a" bootstraps and leads, member "b" is a replica tagged
// nofailover (so that killing "a" leaves the cluster without a leader instead
// of failing over). Everything runs as the postgres OS user when the test runs
// as root. Blocking calls are fine here.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "probes/patroni.hpp"

namespace pgvigil::test {

// Whether patroni and etcd are on PATH and PostgreSQL 15's binaries exist.
bool has_patroni();

class PatroniTestCluster {
 public:
  // Starts etcd, then member a (waits until it leads), then member b (waits
  // until it runs as a replica at lag 0). Throws std::runtime_error with the
  // logs when something does not come up within its bound; whatever started
  // is stopped first.
  // replica_can_fail_over: member b is not tagged nofailover (a switchover
  // to it is possible).
  explicit PatroniTestCluster(bool replica_can_fail_over = false);
  ~PatroniTestCluster();  // stops both Patronis, their PostgreSQLs and etcd; removes the files
  PatroniTestCluster(const PatroniTestCluster&) = delete;
  PatroniTestCluster& operator=(const PatroniTestCluster&) = delete;

  // which: "a" or "b".
  int rest_port(const std::string& which) const;
  int pg_port(const std::string& which) const;
  std::string rest_url(const std::string& which) const;
  std::string scope() const { return "pgvigil-test"; }
  std::string superuser_password() const { return "patroni-su-secret"; }

  // GET /cluster from a member's REST API, parsed; nullopt when it does not
  // answer with a valid reply.
  std::optional<pgvigil::PatroniCluster> cluster(const std::string& which) const;

  int etcd_port() const { return etcd_client_port_; }
  // A planned switchover from the leader `from` to `to` through Patroni's
  // REST API; true when Patroni accepted it (it completes asynchronously).
  bool switchover(const std::string& from, const std::string& to);

  // SIGKILL of the member's Patroni, then of its postmaster: nobody renews
  // the leader key, nobody stops PostgreSQL cleanly.
  void kill_member(const std::string& which);

  std::chrono::milliseconds start_time() const { return start_time_; }
  std::string logs() const;  // tails of every log, for failure messages
  std::string dir() const { return dir_; }

 private:
  struct Member {
    std::string name;
    int rest_port = 0;
    int pg_port = 0;
    pid_t pid = -1;
    std::string config, log, data;
  };
  Member& member(const std::string& which);
  const Member& member(const std::string& which) const;
  pid_t spawn(const std::vector<std::string>& args, const std::string& log);
  void write_member_config(const Member& m, bool nofailover);
  void stop_member(Member& m);
  void stop_all();

  std::string dir_;
  int etcd_client_port_ = 0;
  int etcd_peer_port_ = 0;
  pid_t etcd_pid_ = -1;
  Member a_, b_;
  std::chrono::milliseconds start_time_{0};
};

}  // namespace pgvigil::test
