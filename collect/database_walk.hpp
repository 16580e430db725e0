#pragma once
// Visits databases one after another, one short-lived connection at a time,
// closed after its round: per-database views (pg_stat_user_tables) need a
// connection to each database, but never more than one extra per target.
// The target's own database is visited on its monitoring connection: a
// target that watches one database opens no extra connection at all.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collect/conn_params.hpp"
#include "collect/connect_gate.hpp"
#include "collect/pg_connection.hpp"
#include "probes/probe.hpp"

namespace pgvigil {

class DatabaseWalk : public std::enable_shared_from_this<DatabaseWalk> {
 public:
  using Finish = std::function<void(SampleSink&, bool all_ok)>;
  DatabaseWalk(boost::asio::io_context& io, ConnParams params, std::vector<std::string> databases,
               std::shared_ptr<SqlProbe> probe, ServerInfo server,
               std::shared_ptr<const config::TargetConfig> target,
               std::shared_ptr<collect::ConnectGate> gate,
               std::chrono::milliseconds connect_timeout, std::chrono::milliseconds timeout,
               Finish finish)
      : io_(io),
        params_(std::move(params)),
        databases_(std::move(databases)),
        probe_(std::move(probe)),
        server_(std::move(server)),
        target_(std::move(target)),
        gate_(std::move(gate)),
        connect_timeout_(connect_timeout),
        timeout_(timeout),
        finish_(std::move(finish)) {}

  // The target's monitoring connection (connected to server.current_database),
  // used for the visit to that database instead of a connection of its own.
  void share_own_database(std::shared_ptr<PgConnection> connection) {
    own_connection_ = std::move(connection);
  }
  // Visits the next database, or finishes when none is left.
  void next();

 private:
  void connect();
  void connected(const ConnectOutcome& outcome);
  void run_round();
  void answered(const RoundOutcome& round);

  boost::asio::io_context& io_;
  ConnParams params_;
  std::vector<std::string> databases_;
  std::shared_ptr<SqlProbe> probe_;
  ServerInfo server_;
  std::shared_ptr<const config::TargetConfig> target_;
  std::shared_ptr<collect::ConnectGate> gate_;  // may be null: no admission control
  collect::ConnectGate::Ticket ticket_;         // held while connecting
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds timeout_;
  Finish finish_;
  std::size_t index_ = 0;
  std::string database_;
  std::shared_ptr<PgConnection> connection_;
  std::shared_ptr<PgConnection> own_connection_;
  bool on_own_connection_ = false;
  SampleSink sink_;
  bool all_ok_ = true;
};

}  // namespace pgvigil
