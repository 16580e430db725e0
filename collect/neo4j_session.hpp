#pragma once
// One monitored Neo4j server over its HTTP API, through the project's one
// HTTP client (collect/http_client) on the daemon's io_context. Every
// interval one round of requests, one after the other, each with the
// target's timeout as its deadline:
//   GET  /                              discovery: version, edition
//   GET  /db/<db>/cluster/available     Enterprise only (see below)
//   GET  /db/<db>/cluster/writable      Enterprise only
//   GET  /dbms/cluster/status           Enterprise only
//   POST /db/<db>/tx/commit  RETURN 1   basic auth: the database answers queries
// A server without the cluster endpoints (Community answers 404) is not
// asked again until the session reconnects after a failure or is replaced on
// reload. Failed rounds retry with capped, jittered backoff. It publishes
// two snapshots itself, like RedisSession: "neo4j_liveness" (always) and
// "neo4j" (while the server answers; kept when only the database is
// unavailable, so neo4j_database_available says which).
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "collect/http_client.hpp"
#include "collect/metrics_store.hpp"
#include "collect/service_session.hpp"
#include "config/config.hpp"
#include "probes/neo4j.hpp"

namespace pgvigil {

struct Neo4jSessionOptions {
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_cap{5000};
  // A larger reply is a protocol failure; /dbms/cluster/status of a server
  // with hundreds of databases stays far below.
  std::size_t body_limit = 1024 * 1024;
};

class Neo4jSession final : public ServiceSession,
                           public std::enable_shared_from_this<Neo4jSession> {
 public:
  // `password`: the first line of password_file, read at (re)load, not here.
  Neo4jSession(boost::asio::io_context& io, MetricsStore& store, config::ServiceTargetConfig target,
               std::optional<std::string> password, Neo4jSessionOptions options = {});
  ~Neo4jSession() override;
  Neo4jSession(const Neo4jSession&) = delete;
  Neo4jSession& operator=(const Neo4jSession&) = delete;

  void start() override;
  void stop() override;
  bool same_connection(const config::ServiceTargetConfig& other,
                       const std::optional<std::string>& password) const override;
  void update_target(config::ServiceTargetConfig target) override;

  const config::ServiceTargetConfig& config() const noexcept override { return target_; }
  const config::TargetConfig& facts_config() const noexcept override { return facts_config_; }
  const Labels& labels() const noexcept override { return labels_; }
  bool up() const noexcept override { return liveness_.up; }
  std::string_view reason() const noexcept override { return neo4j::to_string(liveness_.reason); }
  const std::string& last_error() const noexcept override { return last_error_; }
  std::chrono::system_clock::time_point since() const noexcept override { return since_; }
  std::string display_version() const override;
  std::string_view role() const noexcept override;
  bool first_round_done() const noexcept override { return first_round_done_; }
  std::vector<std::string> snapshot_names() const override { return {"neo4j", "neo4j_liveness"}; }

 private:
  enum class Step { discovery, available, writable, cluster_status, query };

  void schedule_round(std::chrono::milliseconds delay);
  void begin_round();
  void send(Step step);
  void on_reply(Step step, const HttpResult& result);
  // The step after `step` in this round, skipping what the server lacks.
  std::optional<Step> next_step(Step step) const;
  void succeed();
  void fail(neo4j::DownReason reason, std::string why);
  void publish_round();
  void publish_liveness();
  void set_target(config::ServiceTargetConfig target);

  MetricsStore& store_;
  config::ServiceTargetConfig target_;
  config::TargetConfig facts_config_;
  std::optional<std::string> password_;
  std::string authorization_;  // "Basic ..." from user and password: a secret
  Neo4jSessionOptions options_;
  Labels labels_;
  HttpUrl url_;

  HttpClient client_;
  boost::asio::steady_timer round_timer_;
  // Moves with every round: replies of an abandoned one see a stale id.
  std::uint64_t round_id_ = 0;
  bool in_round_ = false;
  bool stopped_ = false;
  bool first_round_done_ = false;
  // Cleared by a 404 that is not "false": the server has no such endpoint.
  bool has_database_endpoints_ = true;
  bool has_status_endpoint_ = true;

  neo4j::Round round_;
  neo4j::Liveness liveness_;
  std::string last_error_;
  std::chrono::system_clock::time_point since_;
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand jitter_;
};

}  // namespace pgvigil
