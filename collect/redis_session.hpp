#pragma once
// One monitored Redis server: a persistent TCP connection on the daemon's
// io_context (Asio resolver and socket, never a blocking call), RESP read
// by collect/resp_reader (hiredis' reader, none of hiredis' networking),
// AUTH once per connection, then every interval one pipelined round:
// PING, INFO all, CONFIG GET maxmemory, CONFIG GET maxclients. Deadlines
// on the connection attempt and on every reply; reconnects with capped,
// jittered backoff. It publishes two snapshots to the store itself, like
// TargetMonitor publishes pg_up: "redis_liveness" (always) and "redis"
// (the INFO round; dropped while the target is down).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "collect/metrics_store.hpp"
#include "collect/resp_reader.hpp"
#include "collect/service_session.hpp"
#include "config/config.hpp"
#include "probes/redis_info.hpp"

namespace pgvigil {

struct RedisSessionOptions {
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_cap{5000};
};

class RedisSession final : public ServiceSession,
                           public std::enable_shared_from_this<RedisSession> {
 public:
  // `password`: the first line of password_file, read at (re)load, not here.
  RedisSession(boost::asio::io_context& io, MetricsStore& store, config::ServiceTargetConfig target,
               std::optional<std::string> password, RedisSessionOptions options = {});
  ~RedisSession() override;
  RedisSession(const RedisSession&) = delete;
  RedisSession& operator=(const RedisSession&) = delete;

  void start() override;
  void stop() override;
  bool same_connection(const config::ServiceTargetConfig& other,
                       const std::optional<std::string>& password) const override;
  void update_target(config::ServiceTargetConfig target) override;

  const config::ServiceTargetConfig& config() const noexcept override { return target_; }
  const config::TargetConfig& facts_config() const noexcept override { return facts_config_; }
  const Labels& labels() const noexcept override { return labels_; }
  bool up() const noexcept override { return liveness_.up; }
  std::string_view reason() const noexcept override { return redis::to_string(liveness_.reason); }
  const std::string& last_error() const noexcept override { return last_error_; }
  std::chrono::system_clock::time_point since() const noexcept override { return since_; }
  std::string display_version() const override {
    return version_.empty() ? std::string() : "Redis " + version_;
  }
  std::string_view role() const noexcept override;
  bool first_round_done() const noexcept override { return first_round_done_; }
  std::vector<std::string> snapshot_names() const override { return {"redis", "redis_liveness"}; }

 private:
  void schedule_round(std::chrono::milliseconds delay);
  void begin_round();
  void connect();
  void on_connected();
  void send_round();
  void start_reading(std::uint64_t id);
  void on_reply(redis::Reply reply);
  void finish_round();
  void arm_deadline(std::uint64_t id);
  void fail(redis::DownReason reason, std::string why);
  void close();
  void publish_liveness();
  void set_target(config::ServiceTargetConfig target);

  boost::asio::io_context& io_;
  MetricsStore& store_;
  config::ServiceTargetConfig target_;
  config::TargetConfig facts_config_;
  std::optional<std::string> password_;
  RedisSessionOptions options_;
  Labels labels_;

  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer round_timer_;
  std::unique_ptr<redis::RespReader> reader_;
  std::vector<char> read_buffer_;
  // Moves with every connection: callbacks of a closed one see a stale id.
  std::uint64_t connection_id_ = 0;
  bool connected_ = false;
  bool authenticated_ = false;
  bool in_round_ = false;
  bool stopped_ = false;
  bool first_round_done_ = false;
  // What the replies in flight answer, in order.
  enum class Expect { auth, ping, info, maxmemory, maxclients };
  std::vector<Expect> expected_;
  std::vector<redis::Reply> replies_;
  std::chrono::steady_clock::time_point connect_started_;
  std::chrono::steady_clock::time_point round_started_;

  redis::Liveness liveness_;
  std::string last_error_;
  std::chrono::system_clock::time_point since_;
  std::string version_;
  std::string role_;
  std::chrono::milliseconds backoff_{0};
  std::minstd_rand jitter_;
};

}  // namespace pgvigil
