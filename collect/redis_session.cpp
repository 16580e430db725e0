#include "collect/redis_session.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <functional>

#include "config/text.hpp"

namespace pgvigil {

namespace asio = boost::asio;
using redis::DownReason;
using redis::Reply;

namespace {

// A server's error text, or an error code's message, as kept for logs and
// alert evidence: one line, printable, short. Replies never echo AUTH's
// arguments, so no password can reach this.
std::string clip(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte >= 0x7f) ? '?' : c;
  }
  return out;
}

std::optional<double> config_get_value(const Reply& reply) {
  // CONFIG GET name -> [name, value]
  if (reply.type != Reply::Type::array || reply.elements.size() != 2) return std::nullopt;
  const auto& value = reply.elements[1];
  if (!value.is_text()) return std::nullopt;
  try {
    std::size_t used = 0;
    const double number = std::stod(value.text, &used);
    if (used != value.text.size()) return std::nullopt;
    return number;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string seconds_text(std::chrono::milliseconds timeout) {
  return std::to_string(static_cast<double>(timeout.count()) / 1000.0).substr(0, 4) + " s";
}

}  // namespace

RedisSession::RedisSession(asio::io_context& io, MetricsStore& store,
                           config::ServiceTargetConfig target, std::optional<std::string> password,
                           RedisSessionOptions options)
    : io_(io),
      store_(store),
      password_(std::move(password)),
      options_(options),
      resolver_(io),
      socket_(io),
      deadline_(io),
      round_timer_(io),
      read_buffer_(16 * 1024),
      since_(std::chrono::system_clock::now()),
      jitter_(static_cast<std::minstd_rand::result_type>(std::hash<std::string>{}(target.name))) {
  set_target(std::move(target));
}

RedisSession::~RedisSession() {
  close();
}

void RedisSession::set_target(config::ServiceTargetConfig target) {
  target_ = std::move(target);
  labels_.clear();
  for (const auto& [k, v] : target_.labels) labels_.emplace_back(k, v);
  facts_config_ = config::TargetConfig{};
  facts_config_.name = target_.name;
  facts_config_.labels = target_.labels;
  facts_config_.rules = target_.rules;
}

void RedisSession::start() {
  publish_liveness();
  schedule_round(std::chrono::milliseconds(0));
}

void RedisSession::stop() {
  stopped_ = true;
  close();
  round_timer_.cancel();
}

bool RedisSession::same_connection(const config::ServiceTargetConfig& other,
                                   const std::optional<std::string>& password) const {
  return other.kind == target_.kind && other.host == target_.host && other.port == target_.port &&
         other.user == target_.user && other.timeout == target_.timeout && password == password_;
}

std::string_view RedisSession::role() const noexcept {
  // INFO says master/slave; the status page and alerts say primary/replica.
  if (role_ == "slave") return "replica";
  if (role_ == "master") return "primary";
  return "";
}

void RedisSession::update_target(config::ServiceTargetConfig target) {
  const bool relabel = target.labels != target_.labels;
  set_target(std::move(target));
  if (relabel) publish_liveness();  // the INFO snapshot follows at the next round
}

void RedisSession::schedule_round(std::chrono::milliseconds delay) {
  if (stopped_) return;
  round_timer_.expires_after(delay);
  round_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->begin_round();
  });
}

void RedisSession::begin_round() {
  if (stopped_ || in_round_) return;
  in_round_ = true;
  round_started_ = std::chrono::steady_clock::now();
  if (connected_)
    send_round();
  else
    connect();
}

void RedisSession::arm_deadline(std::uint64_t id) {
  deadline_.expires_after(target_.timeout);
  deadline_.async_wait([this, weak = weak_from_this(), id](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || ec || id != connection_id_) return;
    // A wait cancelled just as it expired still runs with success: only a
    // deadline that really passed counts.
    if (deadline_.expiry() > std::chrono::steady_clock::now()) return;
    fail(DownReason::timeout,
         connected_ ? "no reply within " + seconds_text(target_.timeout)
                    : "connection not established within " + seconds_text(target_.timeout));
  });
}

void RedisSession::connect() {
  close();
  const auto id = connection_id_;
  connect_started_ = std::chrono::steady_clock::now();
  arm_deadline(id);
  // Asio's resolver runs getaddrinfo on its own thread: the loop never blocks.
  resolver_.async_resolve(
      target_.host, std::to_string(target_.port),
      [this, weak = weak_from_this(), id](boost::system::error_code ec,
                                          asio::ip::tcp::resolver::results_type results) {
        auto self = weak.lock();
        if (!self || id != connection_id_) return;
        if (ec) {
          fail(DownReason::dns, "cannot resolve " + target_.host + ": " + clip(ec.message()));
          return;
        }
        asio::async_connect(
            socket_, results,
            [this, weak, id](boost::system::error_code connect_ec, const asio::ip::tcp::endpoint&) {
              auto me = weak.lock();
              if (!me || id != connection_id_) return;
              if (connect_ec) {
                const bool refused = connect_ec == asio::error::connection_refused;
                fail(refused ? DownReason::refused : DownReason::other,
                     "cannot connect to " + target_.host + ":" + std::to_string(target_.port) +
                         ": " + clip(connect_ec.message()));
                return;
              }
              on_connected();
            });
      });
}

void RedisSession::on_connected() {
  connected_ = true;
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  reader_ = std::make_unique<redis::RespReader>();
  liveness_.connect_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - connect_started_).count();
  start_reading(connection_id_);
  send_round();
}

void RedisSession::send_round() {
  const auto id = connection_id_;
  expected_.clear();
  replies_.clear();
  std::string request;
  // AUTH rides in the same write as the round on a new connection: one
  // round trip, and its reply comes first, so a failure is seen before the
  // NOAUTH errors that follow it.
  if (!authenticated_ && password_) {
    request += target_.user.empty() ? redis::encode_command({"AUTH", *password_})
                                    : redis::encode_command({"AUTH", target_.user, *password_});
    expected_.push_back(Expect::auth);
  }
  request += redis::encode_command({"PING"});
  request += redis::encode_command({"INFO", "all"});
  request += redis::encode_command({"CONFIG", "GET", "maxmemory"});
  request += redis::encode_command({"CONFIG", "GET", "maxclients"});
  expected_.insert(expected_.end(),
                   {Expect::ping, Expect::info, Expect::maxmemory, Expect::maxclients});
  arm_deadline(id);
  auto buffer = std::make_shared<std::string>(std::move(request));
  asio::async_write(
      socket_, asio::buffer(*buffer),
      [this, weak = weak_from_this(), id, buffer](boost::system::error_code ec, std::size_t) {
        auto self = weak.lock();
        if (!self || id != connection_id_ || !ec) return;
        fail(DownReason::other, "cannot send to the server: " + clip(ec.message()));
      });
}

void RedisSession::start_reading(std::uint64_t id) {
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      [this, weak = weak_from_this(), id](boost::system::error_code ec, std::size_t n) {
        auto self = weak.lock();
        if (!self || id != connection_id_ || stopped_) return;
        if (ec) {
          if (!in_round_) {
            // The idle connection went away (server restart, its idle
            // timeout): the next attempt, at once, says whether and why the
            // server is down.
            close();
            begin_round();
            return;
          }
          fail(DownReason::other, ec == asio::error::eof
                                      ? std::string("connection closed by the server")
                                      : "connection lost: " + clip(ec.message()));
          return;
        }
        if (reader_->feed({read_buffer_.data(), n}) == redis::RespReader::Status::error) {
          fail(DownReason::protocol, "bad RESP reply: " + clip(reader_->error()));
          return;
        }
        while (id == connection_id_) {
          Reply reply;
          const auto status = reader_->next(reply);
          if (status == redis::RespReader::Status::incomplete) break;
          if (status == redis::RespReader::Status::error) {
            fail(DownReason::protocol, "bad RESP reply: " + clip(reader_->error()));
            return;
          }
          on_reply(std::move(reply));
        }
        if (id == connection_id_) start_reading(id);
      });
}

void RedisSession::on_reply(Reply reply) {
  if (expected_.empty()) {
    fail(DownReason::protocol, "a reply nothing was sent for");
    return;
  }
  const Expect what = expected_.front();
  expected_.erase(expected_.begin());
  const bool error = reply.type == Reply::Type::error;
  switch (what) {
    case Expect::auth:
      if (error) {
        // Any refusal of AUTH is an authentication failure, whatever its code.
        fail(DownReason::auth_failed, "AUTH refused: " + clip(reply.text));
        return;
      }
      authenticated_ = true;
      break;
    case Expect::ping:
      if (error) {
        fail(redis::classify_error_reply(reply.text), "PING: " + clip(reply.text));
        return;
      }
      if (!reply.is_text()) {
        fail(DownReason::protocol, "PING reply is not a status");
        return;
      }
      liveness_.rtt_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - round_started_).count();
      break;
    case Expect::info:
      if (error) {
        fail(redis::classify_error_reply(reply.text), "INFO: " + clip(reply.text));
        return;
      }
      if (reply.type != Reply::Type::string) {
        fail(DownReason::protocol, "INFO reply is not a bulk string");
        return;
      }
      break;
    case Expect::maxmemory:
    case Expect::maxclients:
      break;  // an error (CONFIG not allowed for this user) falls back to INFO
  }
  replies_.push_back(std::move(reply));
  if (expected_.empty()) {
    finish_round();
  } else {
    arm_deadline(connection_id_);  // a deadline on every reply
  }
}

void RedisSession::finish_round() {
  deadline_.cancel();
  // replies_: [AUTH], PING, INFO, CONFIG GET maxmemory, CONFIG GET maxclients.
  const std::size_t base = replies_.size() - 4;
  const auto parsed = redis::parse_info(replies_[base + 1].text);
  if (!parsed.info) {
    fail(DownReason::protocol, parsed.error);
    return;
  }
  redis::ConfigValues values;
  values.maxmemory = config_get_value(replies_[base + 2]);
  values.maxclients = config_get_value(replies_[base + 3]);
  SampleSink sink;
  redis::collect_info(*parsed.info, values, sink);
  store_.set(target_.name, "redis", labels_, std::move(sink));
  version_ = std::string(parsed.info->get("redis_version").value_or(""));
  role_ = std::string(parsed.info->get("role").value_or(""));

  const bool changed = !liveness_.up;
  liveness_.up = true;
  liveness_.reason = DownReason::none;
  last_error_.clear();
  backoff_ = std::chrono::milliseconds(0);
  if (changed) since_ = std::chrono::system_clock::now();
  publish_liveness();
  in_round_ = false;
  first_round_done_ = true;
  if (changed) notify_state_change();
  schedule_round(target_.interval);
}

void RedisSession::fail(DownReason reason, std::string why) {
  if (stopped_) return;
  close();
  const bool changed = liveness_.up || liveness_.reason != reason;
  if (liveness_.up) since_ = std::chrono::system_clock::now();
  liveness_.up = false;
  liveness_.reason = reason;
  ++liveness_.failures[reason];
  last_error_ = std::move(why);
  // The INFO series go with the connection, as a PostgreSQL target's do;
  // redis_up and the reason stay.
  store_.remove(target_.name, "redis");
  publish_liveness();
  in_round_ = false;
  first_round_done_ = true;
  if (changed) notify_state_change();
  backoff_ = backoff_.count() == 0 ? options_.backoff_initial
                                   : std::min(options_.backoff_cap, backoff_ * 2);
  // ±20 % jitter so a fleet that lost its network does not reconnect in step;
  // never later than the target's own interval.
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  const auto delay =
      std::min(target_.interval, std::chrono::milliseconds(static_cast<long long>(
                                     static_cast<double>(backoff_.count()) * spread(jitter_))));
  schedule_round(delay);
}

void RedisSession::close() {
  ++connection_id_;
  connected_ = false;
  authenticated_ = false;
  expected_.clear();
  boost::system::error_code ignored;
  resolver_.cancel();
  socket_.close(ignored);
  deadline_.cancel();
  reader_.reset();
}

void RedisSession::publish_liveness() {
  SampleSink sink;
  liveness_.emit(sink);
  store_.set(target_.name, "redis_liveness", labels_, std::move(sink));
}

}  // namespace pgvigil
