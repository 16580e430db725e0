#include "collect/pg_connection.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <map>

#include <spdlog/spdlog.h>

#include "config/redaction.hpp"
#include "config/text.hpp"

namespace pgvigil {

namespace asio = boost::asio;

namespace {

QueryResult result_from_pg(PGresult* res) {
  QueryResult out;
  switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE: {
      out.ok = true;
      const int ncols = PQnfields(res);
      const int nrows = PQntuples(res);
      out.columns.reserve(static_cast<std::size_t>(ncols));
      for (int c = 0; c < ncols; ++c) out.columns.emplace_back(PQfname(res, c));
      std::vector<ResultRows::Row> rows(static_cast<std::size_t>(nrows));
      for (int r = 0; r < nrows; ++r) {
        auto& row = rows[static_cast<std::size_t>(r)];
        row.reserve(static_cast<std::size_t>(ncols));
        for (int c = 0; c < ncols; ++c) {
          if (PQgetisnull(res, r, c))
            row.emplace_back(std::nullopt);
          else
            row.emplace_back(std::string(PQgetvalue(res, r, c),
                                         static_cast<std::size_t>(PQgetlength(res, r, c))));
        }
      }
      out.rows = std::move(rows);
      break;
    }
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      out.ok = true;
      break;
    case PGRES_PIPELINE_ABORTED:
      out.error = "not run: an earlier statement in the same transaction failed";
      break;
    default: {
      const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
      out.sqlstate = state ? state : "";
      out.error = primary ? primary : first_line(PQresultErrorMessage(res));
      break;
    }
  }
  return out;
}
}  // namespace

PgConnection::PgConnection(asio::io_context& io, Protocol protocol)
    : io_(io), protocol_(protocol), resolver_(io), deadline_timer_(io) {}

PgConnection::~PgConnection() {
  ++generation_;
  release_socket();
  if (conn_) PQfinish(conn_);
}

std::string PgConnection::parameter_status(const char* name) const {
  if (conn_ == nullptr || !connected()) return {};
  const char* value = PQparameterStatus(conn_, name);
  return value == nullptr ? std::string() : std::string(value);
}

int PgConnection::backend_pid() const noexcept {
  return conn_ ? PQbackendPID(conn_) : 0;
}

void PgConnection::connect(ConnParams params, std::chrono::milliseconds deadline,
                           ConnectHandler done) {
  if (state_ != State::idle && state_ != State::closed) {
    ConnectOutcome busy;
    busy.reason = FailureReason::other;
    busy.message = "a connection attempt is already in progress";
    asio::post(io_, [done = std::move(done), busy] { done(busy); });
    return;
  }
  const auto gen = ++generation_;
  secrets_.clear();
  for (const auto& [key, value] : params)
    if (key == "password" || key == "sslpassword") secrets_.push_back(value);
  connect_done_ = std::move(done);
  started_ = std::chrono::steady_clock::now();
  connect_deadline_ = deadline;
  deadline_timer_.expires_after(deadline);
  deadline_timer_.async_wait([weak = weak_from_this(), gen](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->generation_ != gen) return;
    if (self->state_ != State::resolving && self->state_ != State::connecting) return;
    ConnectOutcome out;
    out.reason = FailureReason::timeout;
    out.ping = PingStatus::no_response;
    out.message = "no answer from the server within the connect deadline";
    self->finish_connect(std::move(out));
  });

  // Resolve a host name ourselves: libpq would call getaddrinfo() and block.
  auto find = [&params](std::string_view key) -> std::string* {
    for (auto& [k, v] : params)
      if (k == key) return &v;
    return nullptr;
  };
  const std::string* host = find("host");
  const bool needs_dns = host && !host->empty() && host->front() != '/' && !find("hostaddr") &&
                         host->find(',') == std::string::npos && [&] {
                           boost::system::error_code ec;
                           asio::ip::make_address(*host, ec);
                           return static_cast<bool>(ec);
                         }();
  if (!needs_dns) {
    start_libpq(std::move(params));
    return;
  }
  state_ = State::resolving;
  const std::string* port = find("port");
  resolver_.async_resolve(
      *host, port && !port->empty() ? *port : "5432",
      [weak = weak_from_this(), gen, params = std::move(params)](
          boost::system::error_code ec, asio::ip::tcp::resolver::results_type results) mutable {
        auto self = weak.lock();
        if (!self || self->generation_ != gen || self->state_ != State::resolving) return;
        if (ec || results.empty()) {
          ConnectOutcome out;
          out.reason = FailureReason::dns;
          out.ping = PingStatus::no_response;
          out.message = "could not resolve the host name: " + ec.message();
          self->finish_connect(std::move(out));
          return;
        }
        params.emplace_back("hostaddr", results.begin()->endpoint().address().to_string());
        self->start_libpq(std::move(params));
      });
}

void PgConnection::start_libpq(ConnParams params) {
  std::vector<const char*> keys;
  std::vector<const char*> values;
  keys.reserve(params.size() + 1);
  values.reserve(params.size() + 1);
  for (const auto& [k, v] : params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
  if (!conn_) {
    ConnectOutcome out;
    out.reason = FailureReason::other;
    out.message = "out of memory starting a connection";
    finish_connect(std::move(out));
    return;
  }
  PQsetErrorVerbosity(conn_, PQERRORS_VERBOSE);  // puts the SQLSTATE into messages
  // libpq's default prints notices (and a server's FATAL on an idle
  // connection) raw to stderr; they go through the logger instead.
  PQsetNoticeProcessor(conn_, &PgConnection::on_notice, this);
  if (PQstatus(conn_) == CONNECTION_BAD) {
    finish_connect(outcome_before_start(first_line(PQerrorMessage(conn_))));
    return;
  }
  state_ = State::connecting;
  // libpq's contract: after PQconnectStart, wait for write-ready before polling.
  if (!sync_socket()) {
    poll_connect();
    return;
  }
  wait(true, &PgConnection::poll_connect);
}

void PgConnection::poll_connect() {
  if (state_ != State::connecting || !conn_) return;
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_OK: {
      ConnectOutcome out;
      out.ok = true;
      out.ping = PingStatus::ok;
      finish_connect(std::move(out));
      return;
    }
    case PGRES_POLLING_READING:
      if (sync_socket()) wait(false, &PgConnection::poll_connect);
      return;
    case PGRES_POLLING_WRITING:
      if (sync_socket()) wait(true, &PgConnection::poll_connect);
      return;
    default: {
      const std::string full = PQerrorMessage(conn_);
      ConnectOutcome out;
      out.sqlstate = extract_sqlstate(full);
      // Keep the server's own line when there is one; it names the cause.
      auto fatal = full.find("FATAL:");
      out.message = first_line(fatal == std::string::npos ? std::string_view(full)
                                                          : std::string_view(full).substr(fatal));
      out.reason = classify_connection_failure(out.sqlstate, full);
      out.ping = ping_status_for(out.reason, out.sqlstate);
      finish_connect(std::move(out));
      return;
    }
  }
}

std::string PgConnection::scrub(std::string_view text) const {
  return config::scrub_secrets(text, secrets_);
}

void PgConnection::on_notice(void* self_ptr, const char* message) {
  const auto* self = static_cast<const PgConnection*>(self_ptr);
  if (!message) return;
  // One log line: libpq's verbose form spans lines (DETAIL, LOCATION, ...).
  std::string text;
  for (std::string_view rest(message); !rest.empty();) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = config::trim(rest.substr(0, end));
    if (!line.empty()) {
      if (!text.empty()) text += " | ";
      text += line;
    }
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  // A FATAL here is the server ending the session; the loss itself is
  // reported where the connection's owner notices it.
  const auto level = text.starts_with("WARNING") ? spdlog::level::warn
                     : text.starts_with("NOTICE") || text.starts_with("INFO") ||
                             text.starts_with("DEBUG") || text.starts_with("LOG")
                         ? spdlog::level::debug
                         : spdlog::level::info;
  spdlog::log(level, "{}: server message: {}", self->log_name_, self->scrub(text));
}

void PgConnection::finish_connect(ConnectOutcome outcome) {
  outcome.message = scrub(outcome.message);
  deadline_timer_.cancel();
  outcome.elapsed = std::chrono::steady_clock::now() - started_;
  if (outcome.ok) {
    PQsetnonblocking(conn_, 1);
    if (protocol_ == Protocol::pipeline && PQenterPipelineMode(conn_) != 1) {
      outcome.ok = false;
      outcome.reason = FailureReason::other;
      outcome.message = "the server does not support pipeline mode";
    }
  }
  if (outcome.ok) {
    state_ = State::ready;
    prepared_.clear();  // a new session has none
  } else {
    release_socket();
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
    state_ = State::idle;
  }
  auto done = std::exchange(connect_done_, nullptr);
  if (outcome.ok) start_next_round();
  if (done) done(outcome);
}

void PgConnection::run(std::vector<Query> queries, std::chrono::milliseconds deadline,
                       RoundHandler done) {
  if (!connected()) {
    RoundOutcome out;
    out.error = "not connected";
    out.results.resize(queries.size(), QueryResult::failure("", "not connected"));
    asio::post(io_,
               [done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
    return;
  }
  queue_.push_back({std::move(queries), deadline, std::move(done)});
  // The rounds asked for in the same turn of the loop (every job of a target
  // falls due at the same tick) leave together: start once this turn ends.
  if (state_ == State::ready && !start_posted_) {
    start_posted_ = true;
    asio::post(io_, [weak = weak_from_this(), gen = generation_] {
      auto self = weak.lock();
      if (!self || self->generation_ != gen) return;
      self->start_posted_ = false;
      self->start_next_round();
    });
  }
}

void PgConnection::start_next_round() {
  if (state_ != State::ready) return;
  if (queue_.empty()) {
    watch_idle();
    return;
  }
  // Every queued round goes into one batch, the shortest deadline first so a
  // round that must answer soon (liveness) never waits behind slow ones.
  batch_ = std::exchange(queue_, {});
  std::stable_sort(batch_.begin(), batch_.end(), [](const PendingRound& a, const PendingRound& b) {
    return a.deadline < b.deadline;
  });
  // A statement asked for twice in one batch is sent once and its result
  // handed to each round that asked (probes reading the same view).
  sent_sql_.clear();
  readers_.clear();
  slots_.assign(batch_.size(), {});
  round_finished_.assign(batch_.size(), false);
  std::map<std::string_view, std::size_t> sent_index;
  for (std::size_t r = 0; r < batch_.size(); ++r) {
    for (const auto& query : batch_[r].queries) {
      auto [it, inserted] = sent_index.try_emplace(query.sql, sent_sql_.size());
      if (inserted) {
        sent_sql_.push_back(&query.sql);
        readers_.push_back(0);
      }
      ++readers_[it->second];
      slots_[r].push_back(it->second);
    }
  }
  ++batches_sent_;
  statements_sent_ += sent_sql_.size();
  state_ = State::busy;
  started_ = std::chrono::steady_clock::now();
  head_started_ = started_;
  // Not ok, no error: no result received (yet); take_unfinished_rounds names why.
  results_.assign(sent_sql_.size(), QueryResult{});
  answered_.assign(sent_sql_.size(), false);
  syncs_seen_ = 0;
  next_query_ = 0;
  flushed_ = false;
  preparing_.assign(sent_sql_.size(), false);
  if (protocol_ == Protocol::pipeline) {
    for (std::size_t i = 0; i < sent_sql_.size(); ++i) {
      if (!send_pipelined(i)) {
        fail_connection(first_line(PQerrorMessage(conn_)));
        return;
      }
    }
  }
  // Rounds with no statement at all are complete before anything is sent.
  if (finish_answered_rounds()) return;
  arm_deadline();
  if (protocol_ == Protocol::simple_query && !send_simple_query()) return;
  pump_round();
}

void PgConnection::arm_deadline() {
  // The server answers a batch's rounds in order, so only the first round not
  // yet answered can be late: its deadline counts from when the round before
  // it was answered (or the batch sent), as if it had been sent alone then. A
  // round behind slow neighbours is not failed for their time.
  std::optional<std::chrono::milliseconds> head;
  for (std::size_t r = 0; r < batch_.size() && !head; ++r)
    if (!round_finished_[r]) head = batch_[r].deadline;
  if (!head) return;
  const auto gen = generation_;
  deadline_timer_.expires_at(head_started_ + *head);
  deadline_timer_.async_wait([weak = weak_from_this(), gen](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->generation_ != gen || self->state_ != State::busy) return;
    // A query past its deadline: drop the connection; the server's
    // statement_timeout ends the statement on its side.
    self->finish_unanswered_rounds("deadline exceeded", true);
    self->fail_connection("no answer within the query deadline", FailureReason::timeout);
  });
}

bool PgConnection::send_simple_query() {
  flushed_ = false;
  if (PQsendQuery(conn_, sent_sql_[next_query_]->c_str()) != 1) {
    fail_connection(first_line(PQerrorMessage(conn_)));
    return false;
  }
  return true;
}

bool PgConnection::send_pipelined(std::size_t index) {
  const std::string& sql = *sent_sql_[index];
  auto known = prepared_.find(sql);
  // An empty statement has nothing to plan; a full cache sends unnamed.
  if (known == prepared_.end() && (sql.empty() || prepared_.size() >= kMaxPrepared))
    return PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
           PQpipelineSync(conn_) == 1;
  if (known == prepared_.end()) {
    known = prepared_.emplace(sql, "pgvigil_" + std::to_string(++prepared_names_)).first;
    if (PQsendPrepare(conn_, known->second.c_str(), sql.c_str(), 0, nullptr) != 1) return false;
    preparing_[index] = true;
  }
  return PQsendQueryPrepared(conn_, known->second.c_str(), 0, nullptr, nullptr, nullptr, 0) == 1 &&
         PQpipelineSync(conn_) == 1;
}

void PgConnection::record_result(std::size_t index, PGresult* res) {
  if (index < preparing_.size() && preparing_[index]) {
    preparing_[index] = false;
    if (PQresultStatus(res) == PGRES_COMMAND_OK) return;  // prepared; its execution follows
    // The Parse failed (a syntax error, a missing column): that error is the
    // statement's, the aborted execution after it is not; the next round
    // tries to prepare it again.
    prepared_.erase(*sent_sql_[index]);
  }
  if (index >= answered_.size() || answered_[index]) return;  // the first result wins
  results_[index] = result_from_pg(res);
  if (!results_[index].error.empty()) results_[index].error = scrub(results_[index].error);
  answered_[index] = true;
}

void PgConnection::pump_simple_round() {
  if (!flushed_) {
    const int flush = PQflush(conn_);
    if (flush < 0) {
      fail_connection(first_line(PQerrorMessage(conn_)));
      return;
    }
    flushed_ = flush == 0;
  }
  if (PQconsumeInput(conn_) != 1) {
    fail_connection(first_line(PQerrorMessage(conn_)));
    return;
  }
  const std::size_t expected = sent_sql_.size();
  while (next_query_ < expected && !PQisBusy(conn_)) {
    PGresult* res = PQgetResult(conn_);
    if (res) {
      record_result(next_query_, res);
      PQclear(res);
      continue;
    }
    // NULL: this query is done; the next one goes out only now (the simple
    // protocol allows one query in flight).
    ++next_query_;
    if (finish_answered_rounds()) return;
    if (next_query_ < expected && !send_simple_query()) return;
  }
  if (!flushed_) wait(true, &PgConnection::pump_round);
  wait(false, &PgConnection::pump_round);
}

void PgConnection::pump_round() {
  if (state_ != State::busy) return;
  if (protocol_ == Protocol::simple_query) {
    pump_simple_round();
    return;
  }
  if (!flushed_) {
    const int flush = PQflush(conn_);
    if (flush < 0) {
      fail_connection(first_line(PQerrorMessage(conn_)));
      return;
    }
    flushed_ = flush == 0;
  }
  if (PQconsumeInput(conn_) != 1) {
    fail_connection(first_line(PQerrorMessage(conn_)));
    return;
  }
  int nulls_in_a_row = 0;
  const std::size_t expected = sent_sql_.size();
  const std::size_t syncs_before = syncs_seen_;
  while (syncs_seen_ < expected && !PQisBusy(conn_)) {
    PGresult* res = PQgetResult(conn_);
    if (!res) {
      if (++nulls_in_a_row > 2) break;
      continue;
    }
    nulls_in_a_row = 0;
    if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
      ++syncs_seen_;
    } else {
      record_result(syncs_seen_, res);
    }
    PQclear(res);
  }
  if (syncs_seen_ != syncs_before && finish_answered_rounds()) return;
  if (!flushed_) wait(true, &PgConnection::pump_round);
  wait(false, &PgConnection::pump_round);
}

bool PgConnection::finish_answered_rounds() {
  // Statements [0, complete) have every result in.
  const std::size_t complete = protocol_ == Protocol::pipeline ? syncs_seen_ : next_query_;
  bool any = false;
  for (std::size_t r = 0; r < batch_.size(); ++r) {
    if (round_finished_[r]) continue;
    const auto& slots = slots_[r];
    if (!std::all_of(slots.begin(), slots.end(),
                     [complete](std::size_t slot) { return slot < complete; }))
      continue;
    round_finished_[r] = true;
    any = true;
    head_started_ = std::chrono::steady_clock::now();
    RoundOutcome out;
    out.ok = true;
    out.elapsed = std::chrono::steady_clock::now() - started_;
    out.results.reserve(slots.size());
    for (const std::size_t slot : slots) {
      // The last round to read a statement's result takes it; a shared one
      // is copied for the rounds before.
      if (--readers_[slot] == 0)
        out.results.push_back(std::move(results_[slot]));
      else
        out.results.push_back(results_[slot]);
    }
    if (auto done = std::exchange(batch_[r].done, nullptr)) {
      const auto gen = generation_;
      done(std::move(out));
      // A handler may close the connection (or start it over).
      if (generation_ != gen || state_ != State::busy) return true;
    }
  }
  const bool all_done =
      std::all_of(round_finished_.begin(), round_finished_.end(), [](bool f) { return f; });
  if (all_done) {
    deadline_timer_.cancel();
    state_ = State::ready;
    clear_batch();
    start_next_round();
    return true;
  }
  if (any) arm_deadline();
  return false;
}

std::vector<std::pair<PgConnection::RoundHandler, RoundOutcome>>
PgConnection::take_unfinished_rounds(const std::string& error, bool timed_out) {
  std::vector<std::pair<RoundHandler, RoundOutcome>> taken;
  const auto elapsed = std::chrono::steady_clock::now() - started_;
  for (std::size_t r = 0; r < batch_.size(); ++r) {
    if (round_finished_[r] || !batch_[r].done) continue;
    RoundOutcome out;
    out.error = error;
    out.timed_out = timed_out;
    out.elapsed = elapsed;
    for (const std::size_t slot : slots_[r]) {
      out.results.push_back(slot < results_.size() ? results_[slot]
                                                   : QueryResult::failure("", error));
      if (!out.results.back().ok && out.results.back().error.empty())
        out.results.back().error = error;
    }
    taken.emplace_back(std::move(batch_[r].done), std::move(out));
  }
  clear_batch();
  return taken;
}

void PgConnection::finish_unanswered_rounds(const std::string& error, bool timed_out) {
  if (state_ != State::busy) return;
  deadline_timer_.cancel();
  state_ = State::ready;
  for (auto& [done, out] : take_unfinished_rounds(error, timed_out)) done(std::move(out));
}

void PgConnection::clear_batch() {
  batch_.clear();
  slots_.clear();
  round_finished_.clear();
  sent_sql_.clear();
  readers_.clear();
  results_.clear();
  answered_.clear();
  preparing_.clear();
}

void PgConnection::watch_idle() {
  if (state_ != State::ready) return;
  wait(false, &PgConnection::pump_round);  // pump_round in ready state = idle check
}

void PgConnection::fail_connection(const std::string& raw_why,
                                   std::optional<FailureReason> reason) {
  const std::string why = scrub(raw_why);
  const FailureReason cause =
      reason.value_or(classify_connection_failure(extract_sqlstate(raw_why), raw_why));
  const bool was_connected = connected();
  close(why);
  if (was_connected && lost_handler_) lost_handler_(cause, why);
}

void PgConnection::close(const std::string& raw_why) {
  const std::string why = scrub(raw_why);
  ++generation_;
  start_posted_ = false;
  deadline_timer_.cancel();
  resolver_.cancel();
  release_socket();
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  const State previous = state_;
  state_ = State::closed;

  // The rounds of the batch in flight that have not finished, then the queued
  // ones: each completed with the reason, later on the loop.
  auto unfinished = previous == State::busy ? take_unfinished_rounds(why, false)
                                            : std::vector<std::pair<RoundHandler, RoundOutcome>>{};
  clear_batch();
  for (auto& [done, out] : unfinished)
    asio::post(io_,
               [done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
  for (auto& pending : std::exchange(queue_, {})) {
    RoundOutcome out;
    out.error = why;
    out.results.resize(pending.queries.size(), QueryResult::failure("", why));
    asio::post(io_, [done = std::move(pending.done), out = std::move(out)]() mutable {
      done(std::move(out));
    });
  }
  if (auto done = std::exchange(connect_done_, nullptr)) {
    ConnectOutcome out;
    out.reason = FailureReason::other;
    out.message = why;
    asio::post(io_, [done = std::move(done), out] { done(out); });
  }
}

bool PgConnection::sync_socket() {
  const int fd = conn_ ? PQsocket(conn_) : -1;
  if (fd < 0) {
    release_socket();
    return false;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    release_socket();
    return false;
  }
  if (socket_ && socket_inode_ == info.st_ino) return true;
  release_socket();
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return false;
  socket_.emplace(io_, own);
  socket_inode_ = info.st_ino;
  return true;
}

void PgConnection::release_socket() {
  if (!socket_) return;
  boost::system::error_code ignored;
  socket_->cancel(ignored);
  socket_->close(ignored);
  socket_.reset();
  socket_inode_ = 0;
  read_pending_ = false;
  write_pending_ = false;
}

void PgConnection::wait(bool for_write, void (PgConnection::*next)()) {
  if (!socket_) return;
  // One outstanding wait per direction; the inode tags which registration it was.
  bool& pending = for_write ? write_pending_ : read_pending_;
  if (pending) return;
  pending = true;
  const auto gen = generation_;
  const auto inode = socket_inode_;
  socket_->async_wait(
      for_write ? asio::posix::descriptor_base::wait_write
                : asio::posix::descriptor_base::wait_read,
      [weak = weak_from_this(), gen, inode, next, for_write](boost::system::error_code ec) {
        auto self = weak.lock();
        if (!self || self->generation_ != gen || self->socket_inode_ != inode) return;
        (for_write ? self->write_pending_ : self->read_pending_) = false;
        if (ec == asio::error::operation_aborted) return;
        if (self->state_ == State::ready) {
          // Idle: the server spoke or hung up. EOF means the connection is gone.
          if (PQconsumeInput(self->conn_) != 1 || PQstatus(self->conn_) == CONNECTION_BAD) {
            self->fail_connection(first_line(PQerrorMessage(self->conn_)));
            return;
          }
          while (!PQisBusy(self->conn_)) {
            PGresult* stray = PQgetResult(self->conn_);
            if (!stray) break;
            PQclear(stray);
          }
          self->watch_idle();
          return;
        }
        (self.get()->*next)();
      });
}

}  // namespace pgvigil
