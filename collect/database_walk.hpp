#pragma once
// Visits databases one after another, one short-lived connection at a time,
// closed after its round: per-database views (pg_stat_user_tables) need a
// connection to each database, but never more than one extra per target.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collect/conn_params.hpp"
#include "collect/pg_connection.hpp"
#include "probes/probe.hpp"

namespace pgvigil {

class DatabaseWalk : public std::enable_shared_from_this<DatabaseWalk> {
 public:
  using Finish = std::function<void(SampleSink&, bool all_ok)>;
  DatabaseWalk(boost::asio::io_context& io, ConnParams params, std::vector<std::string> databases,
               std::shared_ptr<SqlProbe> probe, ServerInfo server,
               std::shared_ptr<const config::TargetConfig> target,
               std::chrono::milliseconds connect_timeout, std::chrono::milliseconds timeout,
               Finish finish)
      : io_(io),
        params_(std::move(params)),
        databases_(std::move(databases)),
        probe_(std::move(probe)),
        server_(std::move(server)),
        target_(std::move(target)),
        connect_timeout_(connect_timeout),
        timeout_(timeout),
        finish_(std::move(finish)) {}

  void next() {
    if (index_ >= databases_.size()) {
      finish_(sink_, all_ok_);
      return;
    }
    database_ = databases_[index_++];
    ConnParams params = params_;
    set_conn_param(params, "dbname", database_);
    connection_ = PgConnection::create(io_);
    connection_->connect(
        std::move(params), connect_timeout_,
        [self = shared_from_this()](const ConnectOutcome& outcome) { self->connected(outcome); });
  }

 private:
  void connected(const ConnectOutcome& outcome) {
    if (!outcome.ok) {
      all_ok_ = false;
      boost::asio::post(io_, [self = shared_from_this()] { self->next(); });
      return;
    }
    ProbeContext ctx{server_, *target_, std::chrono::system_clock::now(), database_};
    connection_->run(probe_->queries(ctx), timeout_,
                     [self = shared_from_this()](RoundOutcome round) { self->answered(round); });
  }
  void answered(const RoundOutcome& round) {
    if (round.ok) {
      ProbeContext ctx{server_, *target_, std::chrono::system_clock::now(), database_};
      try {
        probe_->collect(ctx, round.results, sink_);
      } catch (const std::exception&) {
        all_ok_ = false;
      }
    } else {
      all_ok_ = false;
    }
    connection_->close("round finished");
    boost::asio::post(io_, [self = shared_from_this()] { self->next(); });
  }

  boost::asio::io_context& io_;
  ConnParams params_;
  std::vector<std::string> databases_;
  std::shared_ptr<SqlProbe> probe_;
  ServerInfo server_;
  std::shared_ptr<const config::TargetConfig> target_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds timeout_;
  Finish finish_;
  std::size_t index_ = 0;
  std::string database_;
  std::shared_ptr<PgConnection> connection_;
  SampleSink sink_;
  bool all_ok_ = true;
};

}  // namespace pgvigil
