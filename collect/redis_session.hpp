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
#include "config/config.hpp"
#include "probes/redis_info.hpp"

namespace pgvigil {

struct RedisSessionOptions {
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_cap{5000};
};

class RedisSession : public std::enable_shared_from_this<RedisSession> {
 public:
  using StateListener = std::function<void(const RedisSession&)>;

  // `password`: the first line of password_file, read at (re)load, not here.
  RedisSession(boost::asio::io_context& io, MetricsStore& store, config::RedisTargetConfig target,
               std::optional<std::string> password, RedisSessionOptions options = {});
  ~RedisSession();
  RedisSession(const RedisSession&) = delete;
  RedisSession& operator=(const RedisSession&) = delete;

  void start();
  void stop();
  void on_state_change(StateListener listener) { listener_ = std::move(listener); }

  // True when `other` needs no new connection (same address, credentials,
  // timeout): a reload then keeps this session and only updates the rest.
  bool same_connection(const config::RedisTargetConfig& other,
                       const std::optional<std::string>& password) const;
  // Labels, interval and rule overrides of a reload that kept the session.
  void update_target(config::RedisTargetConfig target);

  const std::string& name() const noexcept { return target_.name; }
  const config::RedisTargetConfig& config() const noexcept { return target_; }
  // The shape the alert evaluator and the status page take for any target.
  const config::TargetConfig& facts_config() const noexcept { return facts_config_; }
  const Labels& labels() const noexcept { return labels_; }
  bool up() const noexcept { return liveness_.up; }
  redis::DownReason reason() const noexcept { return liveness_.reason; }
  const std::string& last_error() const noexcept { return last_error_; }
  std::chrono::system_clock::time_point since() const noexcept { return since_; }
  const std::string& version() const noexcept { return version_; }
  const std::string& role() const noexcept { return role_; }
  bool first_round_done() const noexcept { return first_round_done_; }

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
  void set_target(config::RedisTargetConfig target);

  boost::asio::io_context& io_;
  MetricsStore& store_;
  config::RedisTargetConfig target_;
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
  StateListener listener_;
};

}  // namespace pgvigil
