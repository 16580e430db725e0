#include "collect/database_walk.hpp"

#include <boost/asio/post.hpp>

namespace pgvigil {

void DatabaseWalk::next() {
  if (index_ >= databases_.size()) {
    finish_(sink_, all_ok_);
    return;
  }
  database_ = databases_[index_++];
  on_own_connection_ =
      own_connection_ && own_connection_->connected() && database_ == server_.current_database;
  if (on_own_connection_) {
    connection_ = own_connection_;
    return run_round();
  }
  if (!gate_) return connect();
  gate_->acquire([self = shared_from_this()](collect::ConnectGate::Ticket ticket) {
    self->ticket_ = std::move(ticket);
    self->connect();
  });
}

void DatabaseWalk::connect() {
  ConnParams params = params_;
  set_conn_param(params, "dbname", database_);
  connection_ = PgConnection::create(io_);
  connection_->set_log_name("database " + database_);
  connection_->connect(
      std::move(params), connect_timeout_,
      [self = shared_from_this()](const ConnectOutcome& outcome) { self->connected(outcome); });
}

void DatabaseWalk::connected(const ConnectOutcome& outcome) {
  ticket_.release();
  if (!outcome.ok) {
    all_ok_ = false;
    boost::asio::post(io_, [self = shared_from_this()] { self->next(); });
    return;
  }
  run_round();
}

void DatabaseWalk::run_round() {
  ProbeContext ctx{server_, *target_, std::chrono::system_clock::now(), database_};
  connection_->run(probe_->queries(ctx), timeout_,
                   [self = shared_from_this()](RoundOutcome round) { self->answered(round); });
}

void DatabaseWalk::answered(const RoundOutcome& round) {
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
  if (!on_own_connection_) connection_->close("round finished");
  connection_.reset();
  boost::asio::post(io_, [self = shared_from_this()] { self->next(); });
}

}  // namespace pgvigil
