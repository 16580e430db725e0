#include "collect/neo4j_session.hpp"

#include <functional>

namespace pgvigil {

using neo4j::DownReason;

namespace {

// The down reason of an exchange that got no usable reply.
DownReason transport_reason(HttpResult::Failure failure) {
  switch (failure) {
    case HttpResult::Failure::resolve:
      return DownReason::dns;
    case HttpResult::Failure::refused:
      return DownReason::refused;
    case HttpResult::Failure::tls:
      return DownReason::tls;
    case HttpResult::Failure::timeout:
      return DownReason::timeout;
    case HttpResult::Failure::too_large:
    case HttpResult::Failure::protocol:
      return DownReason::protocol;
    case HttpResult::Failure::none:
    case HttpResult::Failure::connect:
    case HttpResult::Failure::io:
    case HttpResult::Failure::cancelled:
      break;
  }
  return DownReason::other;
}

// A reply with a status other than the one a step expects: Neo4j's own
// error where the body has one (a 401 carries
// Neo.ClientError.Security.Unauthorized), else the status (401/403
// auth_failed, 503 unavailable, others other).
neo4j::TxResult refusal(const HttpResult& result) {
  return neo4j::parse_tx_reply(result.status, result.body);
}

}  // namespace

Neo4jSession::Neo4jSession(boost::asio::io_context& io, MetricsStore& store,
                           config::ServiceTargetConfig target, std::optional<std::string> password,
                           Neo4jSessionOptions options)
    : store_(store),
      password_(std::move(password)),
      options_(options),
      client_(io),
      round_timer_(io),
      since_(std::chrono::system_clock::now()),
      jitter_(static_cast<std::minstd_rand::result_type>(std::hash<std::string>{}(target.name))) {
  set_target(std::move(target));
  url_.tls = target_.tls;
  url_.host = target_.host;
  url_.port = std::to_string(target_.port);
  const bool v6 = url_.host.find(':') != std::string::npos;
  url_.display = std::string(url_.tls ? "https://" : "http://") +
                 (v6 ? "[" + url_.host + "]" : url_.host) + ":" + url_.port;
  // Without a password the server runs with auth disabled: no header at all.
  if (password_) authorization_ = basic_authorization(target_.user, *password_);
}

Neo4jSession::~Neo4jSession() {
  stopped_ = true;
  client_.cancel();
}

void Neo4jSession::set_target(config::ServiceTargetConfig target) {
  target_ = std::move(target);
  labels_.clear();
  for (const auto& [k, v] : target_.labels) labels_.emplace_back(k, v);
  facts_config_ = config::TargetConfig{};
  facts_config_.name = target_.name;
  facts_config_.labels = target_.labels;
  facts_config_.rules = target_.rules;
}

void Neo4jSession::start() {
  publish_liveness();
  schedule_round(std::chrono::milliseconds(0));
}

void Neo4jSession::stop() {
  stopped_ = true;
  ++round_id_;
  round_timer_.cancel();
  client_.cancel();
}

bool Neo4jSession::same_connection(const config::ServiceTargetConfig& other,
                                   const std::optional<std::string>& password) const {
  return other.kind == target_.kind && other.host == target_.host && other.port == target_.port &&
         other.tls == target_.tls && other.user == target_.user &&
         other.database == target_.database && other.timeout == target_.timeout &&
         password == password_;
}

void Neo4jSession::update_target(config::ServiceTargetConfig target) {
  const bool relabel = target.labels != target_.labels;
  set_target(std::move(target));
  if (relabel) {
    publish_liveness();
    if (liveness_.up) publish_round();
  }
}

std::string Neo4jSession::display_version() const {
  if (round_.discovery.version.empty()) return {};
  std::string text = "Neo4j " + round_.discovery.version;
  if (!round_.discovery.edition.empty()) text += " (" + round_.discovery.edition + ")";
  return text;
}

std::string_view Neo4jSession::role() const noexcept {
  // Only an Enterprise server says whether it takes the database's writes.
  if (!round_.writable) return "";
  return *round_.writable ? "primary" : "replica";
}

void Neo4jSession::schedule_round(std::chrono::milliseconds delay) {
  if (stopped_) return;
  round_timer_.expires_after(delay);
  round_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->begin_round();
  });
}

void Neo4jSession::begin_round() {
  if (stopped_ || in_round_) return;
  in_round_ = true;
  ++round_id_;
  round_ = neo4j::Round{};
  round_.database = target_.database;
  send(Step::discovery);
}

std::optional<Neo4jSession::Step> Neo4jSession::next_step(Step step) const {
  switch (step) {
    case Step::discovery:
      if (has_database_endpoints_) return Step::available;
      [[fallthrough]];
    case Step::available:
      if (has_database_endpoints_) return Step::writable;
      [[fallthrough]];
    case Step::writable:
      if (has_status_endpoint_) return Step::cluster_status;
      [[fallthrough]];
    case Step::cluster_status:
      return Step::query;
    case Step::query:
      break;
  }
  return std::nullopt;
}

void Neo4jSession::send(Step step) {
  HttpRequest request;
  request.accept = "application/json";
  // Discovery needs no credentials; the cluster endpoints do unless
  // dbms.security.cluster_status_auth_enabled=false.
  if (step != Step::discovery) request.authorization = authorization_;
  const std::string db = "/db/" + target_.database;
  switch (step) {
    case Step::discovery:
      request.path = "/";
      break;
    case Step::available:
      request.path = db + "/cluster/available";
      request.accept = "text/plain";
      break;
    case Step::writable:
      request.path = db + "/cluster/writable";
      request.accept = "text/plain";
      break;
    case Step::cluster_status:
      request.path = "/dbms/cluster/status";
      break;
    case Step::query:
      request.method = HttpRequest::Method::post;
      request.path = db + "/tx/commit";
      request.content_type = "application/json";
      request.body = std::string(neo4j::return_one_request());
      break;
  }
  client_.send(url_, std::move(request), target_.timeout, options_.body_limit,
               [weak = weak_from_this(), id = round_id_, step](HttpResult result) {
                 auto self = weak.lock();
                 if (!self || self->stopped_ || id != self->round_id_) return;
                 self->on_reply(step, result);
               });
}

void Neo4jSession::on_reply(Step step, const HttpResult& result) {
  const std::string where = url_.display;
  if (result.failure != HttpResult::Failure::none) {
    fail(transport_reason(result.failure), where + ": " + result.error);
    return;
  }
  const auto continue_after = [&](Step done) {
    if (auto next = next_step(done)) send(*next);
  };
  switch (step) {
    case Step::discovery: {
      if (!result.ok) {
        const auto refused = refusal(result);
        fail(refused.reason, "GET " + where + "/: " + refused.error);
        return;
      }
      auto parsed = neo4j::parse_discovery(result.body);
      if (!parsed.discovery) {
        fail(DownReason::protocol, "GET " + where + "/: " + parsed.error);
        return;
      }
      round_.discovery = std::move(*parsed.discovery);
      continue_after(step);
      return;
    }
    case Step::available:
    case Step::writable: {
      const auto flag = neo4j::parse_cluster_flag(result.status, result.body);
      if (flag == neo4j::ClusterFlag::absent) {
        has_database_endpoints_ = false;
      } else if (flag == neo4j::ClusterFlag::bad) {
        const auto refused = refusal(result);
        fail(result.ok ? DownReason::protocol : refused.reason,
             "GET " + where + "/db/" + target_.database +
                 (step == Step::available ? "/cluster/available" : "/cluster/writable") + ": " +
                 (result.ok ? std::string("neither true nor false") : refused.error));
        return;
      } else {
        (step == Step::available ? round_.available : round_.writable) =
            flag == neo4j::ClusterFlag::yes;
      }
      continue_after(step);
      return;
    }
    case Step::cluster_status: {
      if (result.status == 404) {
        has_status_endpoint_ = false;
      } else if (!result.ok) {
        const auto refused = refusal(result);
        fail(refused.reason, "GET " + where + "/dbms/cluster/status: " + refused.error);
        return;
      } else {
        auto parsed = neo4j::parse_cluster_status(result.body);
        if (!parsed.databases) {
          fail(DownReason::protocol, "GET " + where + "/dbms/cluster/status: " + parsed.error);
          return;
        }
        round_.cluster = std::move(*parsed.databases);
      }
      continue_after(step);
      return;
    }
    case Step::query: {
      const auto tx = neo4j::parse_tx_reply(result.status, result.body);
      const std::string what = "POST " + where + "/db/" + target_.database + "/tx/commit: ";
      if (tx.reason == DownReason::none) {
        liveness_.query_rtt_seconds = std::chrono::duration<double>(result.elapsed).count();
        if (!round_.available) round_.available = true;  // no endpoint: the query says
        succeed();
        return;
      }
      if (tx.reason == DownReason::unavailable && !tx.code.empty()) {
        // The server answers; its database does not. Its series stay, with
        // the database marked unavailable, so the more precise alert fires.
        round_.available = false;
        publish_round();
      }
      fail(tx.reason, what + tx.error);
      return;
    }
  }
}

void Neo4jSession::publish_round() {
  SampleSink sink;
  neo4j::collect_round(round_, sink);
  store_.set(target_.name, "neo4j", labels_, std::move(sink));
}

void Neo4jSession::succeed() {
  publish_round();
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

void Neo4jSession::fail(DownReason reason, std::string why) {
  if (stopped_) return;
  ++round_id_;
  client_.cancel();
  const bool changed = liveness_.up || liveness_.reason != reason;
  if (liveness_.up) since_ = std::chrono::system_clock::now();
  liveness_.up = false;
  liveness_.reason = reason;
  ++liveness_.failures[reason];
  last_error_ = std::move(why);
  // The server's series go with it, as a Redis target's INFO series do;
  // a database that is unavailable on a server that answers keeps them
  // (published just before).
  if (!(reason == DownReason::unavailable && round_.available == false))
    store_.remove(target_.name, "neo4j");
  // A server that comes back may be another edition (an upgrade, a restore
  // onto an Enterprise box): ask for the cluster endpoints again.
  has_database_endpoints_ = true;
  has_status_endpoint_ = true;
  publish_liveness();
  in_round_ = false;
  first_round_done_ = true;
  if (changed) notify_state_change();
  backoff_ = backoff_.count() == 0 ? options_.backoff_initial
                                   : std::min(options_.backoff_cap, backoff_ * 2);
  // ±20 % jitter so a fleet that lost its network does not retry in step;
  // never later than the target's own interval.
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  const auto delay =
      std::min(target_.interval, std::chrono::milliseconds(static_cast<long long>(
                                     static_cast<double>(backoff_.count()) * spread(jitter_))));
  schedule_round(delay);
}

void Neo4jSession::publish_liveness() {
  SampleSink sink;
  liveness_.emit(sink);
  store_.set(target_.name, "neo4j_liveness", labels_, std::move(sink));
}

}  // namespace pgvigil
