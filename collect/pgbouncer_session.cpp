#include "collect/pgbouncer_session.hpp"

#include <functional>

#include "config/text.hpp"

namespace pgvigil {

namespace asio = boost::asio;
using pgbouncer::DownReason;

ConnParams pgbouncer_conn_params(const config::ServiceTargetConfig& target,
                                 const std::optional<std::string>& password) {
  ConnParams params{
      {"host", target.host},
      {"port", std::to_string(target.port)},
      {"dbname", target.database},
      {"application_name", "pgvigil"},
      // tls = true asks for TLS and fails (reason tls) where the server has
      // none; otherwise libpq's default (prefer) uses TLS where offered.
      {"sslmode", target.tls ? "require" : "prefer"},
      {"keepalives", "1"},
      {"keepalives_idle", "10"},
      {"keepalives_interval", "5"},
      {"keepalives_count", "3"},
  };
  if (!target.user.empty()) params.emplace_back("user", target.user);
  if (password) params.emplace_back("password", *password);
  return params;
}

PgbouncerSession::PgbouncerSession(asio::io_context& io, MetricsStore& store,
                                   config::ServiceTargetConfig target,
                                   std::optional<std::string> password,
                                   PgbouncerSessionOptions options)
    : io_(io),
      store_(store),
      password_(std::move(password)),
      options_(options),
      round_timer_(io),
      since_(std::chrono::system_clock::now()),
      jitter_(static_cast<std::minstd_rand::result_type>(std::hash<std::string>{}(target.name))) {
  set_target(std::move(target));
}

PgbouncerSession::~PgbouncerSession() {
  close();
}

void PgbouncerSession::set_target(config::ServiceTargetConfig target) {
  target_ = std::move(target);
  labels_.clear();
  for (const auto& [k, v] : target_.labels) labels_.emplace_back(k, v);
  facts_config_ = config::TargetConfig{};
  facts_config_.name = target_.name;
  facts_config_.labels = target_.labels;
  facts_config_.rules = target_.rules;
}

void PgbouncerSession::start() {
  publish_liveness();
  schedule_round(std::chrono::milliseconds(0));
}

void PgbouncerSession::stop() {
  stopped_ = true;
  close();
  round_timer_.cancel();
}

bool PgbouncerSession::same_connection(const config::ServiceTargetConfig& other,
                                       const std::optional<std::string>& password) const {
  return other.kind == target_.kind && other.host == target_.host && other.port == target_.port &&
         other.user == target_.user && other.database == target_.database &&
         other.tls == target_.tls && other.timeout == target_.timeout && password == password_;
}

void PgbouncerSession::update_target(config::ServiceTargetConfig target) {
  const bool relabel = target.labels != target_.labels;
  set_target(std::move(target));
  if (relabel) publish_liveness();  // the SHOW snapshot follows at the next round
}

void PgbouncerSession::schedule_round(std::chrono::milliseconds delay) {
  if (stopped_) return;
  round_timer_.expires_after(delay);
  round_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->begin_round();
  });
}

void PgbouncerSession::begin_round() {
  if (stopped_ || in_round_) return;
  in_round_ = true;
  if (connection_ && connection_->connected())
    send_round();
  else
    connect();
}

void PgbouncerSession::connect() {
  close();
  connection_ = PgConnection::create(io_, PgConnection::Protocol::simple_query);
  connection_->set_log_name("target " + target_.name);
  const auto id = connection_id_;
  connection_->on_lost([this, weak = weak_from_this(), id](FailureReason, const std::string&) {
    auto self = weak.lock();
    if (!self || stopped_ || connection_id_ != id) return;
    if (in_round_) return;  // the round's own outcome reports it
    // The idle connection went away (pgbouncer restarted, or closed it): the
    // next attempt, at once, says whether and why it is down.
    close();
    begin_round();
  });
  connection_->connect(
      pgbouncer_conn_params(target_, password_), target_.timeout,
      [this, weak = weak_from_this(), id](const ConnectOutcome& outcome) {
        auto self = weak.lock();
        if (!self || stopped_ || connection_id_ != id) return;
        if (!outcome.ok) {
          // libpq's message is already scrubbed of the password it was given.
          fail(pgbouncer::classify_failure(outcome.reason, outcome.message), outcome.message);
          return;
        }
        liveness_.connect_seconds = std::chrono::duration<double>(outcome.elapsed).count();
        send_round();
      });
}

void PgbouncerSession::send_round() {
  const auto id = connection_id_;
  connection_->run(pgbouncer::queries(), target_.timeout,
                   [this, weak = weak_from_this(), id](RoundOutcome outcome) {
                     auto self = weak.lock();
                     if (!self || stopped_) return;
                     on_round(id, std::move(outcome));
                   });
}

void PgbouncerSession::on_round(std::uint64_t id, RoundOutcome outcome) {
  if (connection_id_ != id) return;  // a connection closed since
  if (!outcome.ok) {
    const auto reason =
        outcome.timed_out
            ? DownReason::timeout
            : pgbouncer::classify_failure(
                  classify_connection_failure(extract_sqlstate(outcome.error), outcome.error),
                  outcome.error);
    fail(reason, outcome.timed_out ? "no answer to the SHOW commands within " +
                                         std::to_string(target_.timeout.count()) + " ms"
                                   : outcome.error);
    return;
  }
  SampleSink sink;
  const auto parsed = pgbouncer::collect(outcome.results, sink);
  if (!parsed.ok) {
    fail(parsed.reason, config::first_line(parsed.error));
    return;
  }
  store_.set(target_.name, "pgbouncer", labels_, std::move(sink));
  version_ = parsed.version;
  liveness_.round_seconds = std::chrono::duration<double>(outcome.elapsed).count();

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

void PgbouncerSession::fail(DownReason reason, std::string why) {
  if (stopped_) return;
  close();
  const bool changed = liveness_.up || liveness_.reason != reason;
  if (liveness_.up) since_ = std::chrono::system_clock::now();
  liveness_.up = false;
  liveness_.reason = reason;
  ++liveness_.failures[reason];
  last_error_ = std::move(why);
  // The pool series go with the connection, as a PostgreSQL target's do;
  // pgbouncer_up and the reason stay.
  store_.remove(target_.name, "pgbouncer");
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

void PgbouncerSession::close() {
  ++connection_id_;
  if (!connection_) return;
  // Closing completes the connection's pending handlers with an error, later
  // (posted): they see another connection, or none, and do nothing.
  auto closing = std::exchange(connection_, nullptr);
  closing->close("closed by pgvigil");
}

void PgbouncerSession::publish_liveness() {
  SampleSink sink;
  liveness_.emit(sink);
  store_.set(target_.name, "pgbouncer_liveness", labels_, std::move(sink));
}

}  // namespace pgvigil
