#pragma once
// One asynchronous libpq connection driven by the Asio event loop.
//
// libpq's non-blocking API (PQconnectStartParams/PQconnectPoll, pipeline mode,
// PQconsumeInput/PQisBusy) does the protocol; Asio waits on the socket. No call
// here blocks: host names are resolved by Asio's resolver before libpq sees
// them (libpq's own getaddrinfo would block the loop), deadlines are timers.
//
// Two ways to send a round: pipelined extended-protocol queries (PostgreSQL),
// or simple queries one after another (Protocol::simple_query), for servers
// that speak only the simple query protocol, such as pgbouncer's admin
// console, which rejects pipeline mode and Parse/Bind.
#include <libpq-fe.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "probes/connection_failure.hpp"
#include "probes/probe.hpp"
#include "probes/query_result.hpp"

namespace pgvigil {

using ConnParams = std::vector<std::pair<std::string, std::string>>;  // libpq keyword/value

struct RoundOutcome {
  bool ok = false;    // false when the connection failed or the deadline passed
  std::string error;  // why, when !ok
  bool timed_out = false;
  std::vector<QueryResult> results;  // one per query (failed ones carry the error)
  std::chrono::steady_clock::duration elapsed{};
};

class PgConnection : public std::enable_shared_from_this<PgConnection> {
 public:
  enum class Protocol {
    pipeline,      // every query of a round pipelined, a sync after each
    simple_query,  // PQsendQuery, one statement per query, each after the last finished
  };
  using ConnectHandler = std::function<void(const ConnectOutcome&)>;
  using RoundHandler = std::function<void(RoundOutcome)>;
  // Why an established connection broke: the reason as a new attempt would
  // classify it (a deadline is a timeout) and libpq's message, scrubbed.
  using LostHandler = std::function<void(FailureReason reason, const std::string& why)>;

  static std::shared_ptr<PgConnection> create(boost::asio::io_context& io,
                                              Protocol protocol = Protocol::pipeline) {
    return std::shared_ptr<PgConnection>(new PgConnection(io, protocol));
  }
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Starts an attempt; `done` runs exactly once. At most one attempt at a time.
  void connect(ConnParams params, std::chrono::milliseconds deadline, ConnectHandler done);
  // Queues a round. The rounds queued in one turn of the loop (or while a
  // batch is in flight) go out as one batch: every statement pipelined with a
  // sync after each, so one failing statement does not abort the others, a
  // statement asked for by several rounds sent once, the rounds with the
  // shortest deadline first. Pipelined statements are prepared once per
  // session under a name of their own and executed by name after that, so
  // the server plans a probe's statement once, not every round (a planned
  // pg_stat_activity costs several times its execution). With
  // Protocol::simple_query the statements go
  // one at a time, each once the last one's results are all read. A round's
  // deadline counts from when the round before it in the batch was answered
  // (the batch's send for the first), as if sent alone then; `done` runs
  // exactly once, as soon as the round's own statements are answered.
  void run(std::vector<Query> queries, std::chrono::milliseconds deadline, RoundHandler done);
  // Called once when an established connection breaks while idle or busy.
  void on_lost(LostHandler handler) { lost_handler_ = std::move(handler); }
  // Drops the connection; pending handlers are completed with an error.
  void close(const std::string& why = "closed");

  // Names the connection in log lines (libpq notices), e.g. "target db1".
  void set_log_name(std::string name) { log_name_ = std::move(name); }

  bool connected() const noexcept { return state_ == State::ready || state_ == State::busy; }
  std::size_t queued_rounds() const noexcept { return queue_.size() + batch_.size(); }
  // Batches sent (one pipelined round trip each) and statements in them,
  // duplicates within a batch counted once: what the server was asked.
  std::uint64_t batches_sent() const noexcept { return batches_sent_; }
  std::uint64_t statements_sent() const noexcept { return statements_sent_; }
  // Statements prepared on the current session (named, planned once).
  std::size_t prepared_statements() const noexcept { return prepared_.size(); }
  // A session keeps at most this many; statements beyond it go unnamed.
  static constexpr std::size_t kMaxPrepared = 256;
  int backend_pid() const noexcept;
  // A parameter the server reports on its own (ParameterStatus), as libpq
  // last heard it, e.g. "in_hot_standby"; empty when unknown or not connected.
  std::string parameter_status(const char* name) const;

 private:
  PgConnection(boost::asio::io_context& io, Protocol protocol);
  enum class State { idle, resolving, connecting, ready, busy, closed };
  struct PendingRound {
    std::vector<Query> queries;
    std::chrono::milliseconds deadline;
    RoundHandler done;
  };

  void start_libpq(ConnParams params);
  // Every message this connection hands out passes through here: libpq may
  // quote a connection parameter anywhere, so the password it was given is
  // masked wherever it appears.
  std::string scrub(std::string_view text) const;
  static void on_notice(void* self, const char* message);
  void poll_connect();
  void finish_connect(ConnectOutcome outcome);
  void start_next_round();
  void pump_round();
  // Protocol::simple_query: sends query `next_query_`; reads its results.
  bool send_simple_query();
  void pump_simple_round();
  void arm_deadline();
  void record_result(std::size_t index, PGresult* res);
  // Pipelines sent statement `index` (prepared first if it is new) and a sync.
  bool send_pipelined(std::size_t index);
  // Completes every round of the batch whose statements are all answered;
  // true when the batch is over (or the connection went) and the caller
  // must not touch it any more.
  bool finish_answered_rounds();
  // Takes the batch's rounds not yet answered, each with its outcome (the
  // results that did arrive, `error` for the rest), and empties the batch.
  std::vector<std::pair<RoundHandler, RoundOutcome>> take_unfinished_rounds(
      const std::string& error, bool timed_out);
  void finish_unanswered_rounds(const std::string& error, bool timed_out);
  void clear_batch();
  void watch_idle();
  // Without a reason, it is classified from the message (SQLSTATE first).
  void fail_connection(const std::string& why, std::optional<FailureReason> reason = {});
  // Registers libpq's current socket with Asio (a dup, so closing ours never
  // disturbs libpq's). Returns false when there is no socket.
  bool sync_socket();
  void wait(bool for_write, void (PgConnection::*next)());
  void release_socket();

  boost::asio::io_context& io_;
  const Protocol protocol_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer deadline_timer_;
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  unsigned long socket_inode_ = 0;
  PGconn* conn_ = nullptr;
  State state_ = State::idle;
  std::uint64_t generation_ = 0;  // bumps on close; stale async callbacks check it

  ConnectHandler connect_done_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::milliseconds connect_deadline_{0};

  std::vector<PendingRound> queue_;
  bool start_posted_ = false;
  // The batch in flight: its rounds, which sent statement answers each of a
  // round's queries, which rounds are done; results per sent statement.
  std::vector<PendingRound> batch_;
  std::vector<std::vector<std::size_t>> slots_;
  std::vector<bool> round_finished_;
  std::vector<const std::string*> sent_sql_;
  std::vector<std::size_t> readers_;  // per sent statement: rounds yet to take its result
  // When the batch's first unanswered round began to be served: the batch's
  // send, then each time a round was answered.
  std::chrono::steady_clock::time_point head_started_;
  std::uint64_t batches_sent_ = 0;
  std::uint64_t statements_sent_ = 0;
  std::vector<QueryResult> results_;
  std::vector<bool> answered_;
  // Per sent statement: its Parse is in this batch, and Parse's own result
  // comes before the statement's.
  std::vector<bool> preparing_;
  // The session's prepared statements, SQL -> name; emptied on connect.
  std::unordered_map<std::string, std::string> prepared_;
  std::uint64_t prepared_names_ = 0;
  std::size_t syncs_seen_ = 0;
  std::size_t next_query_ = 0;  // simple_query: the query in flight
  bool flushed_ = false;
  bool read_pending_ = false;
  bool write_pending_ = false;
  LostHandler lost_handler_;
  std::string log_name_ = "connection";
  std::vector<std::string> secrets_;  // the password(s) of the current attempt
};

}  // namespace pgvigil
