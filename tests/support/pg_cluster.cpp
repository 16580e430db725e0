#include "support/pg_cluster.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string_view>

namespace pgvigil::test {
namespace {

// Quotes a value for a libpq conninfo string.
std::string conninfo_quote(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '\'';
  return quoted;
}

// Undoes bash's printf %q for the values cluster.env holds: '' for empty,
// backslash escapes otherwise (the fixture refuses paths that need more).
std::string unquote_env_value(const std::string& value) {
  if (value == "''") return {};
  std::string plain;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) ++i;
    plain += value[i];
  }
  return plain;
}

std::string first_line_of(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string line;
  std::getline(in, line);
  return line;
}

int parse_port(const std::string& text, const std::string& what) {
  if (text.empty()) return 0;
  try {
    std::size_t used = 0;
    int port = std::stoi(text, &used);
    if (used == text.size() && port > 0 && port < 65536) return port;
  } catch (const std::exception&) {
  }
  throw std::runtime_error("cluster.env: bad " + what + " '" + text + "'");
}

std::string make_temp_dir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "pgvigil-fixture-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  return pattern;
}

}  // namespace

std::string shell_quote(const std::string& value) {
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

std::string run_command(const std::string& cmd, int* exit_code) {
  // exec first, so stderr of every command in cmd joins the pipe.
  std::string full = "exec 2>&1; " + cmd;
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed for: " + cmd);
  std::string output;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    output.append(buffer.data(), n);
  }
  int status = pclose(pipe);
  if (exit_code != nullptr) {
    *exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  }
  return output;
}

// ---------------------------------------------------------------- PgCluster

int requested_major() {
  const char* value = std::getenv("PGVIGIL_PG_MAJOR");
  if (value == nullptr || *value == '\0') return 15;
  try {
    return std::stoi(value);
  } catch (const std::exception&) {
    throw std::runtime_error(std::string("PGVIGIL_PG_MAJOR is not a number: ") + value);
  }
}

std::string pg_ctl_command(const PgCluster& cluster, const std::string& arguments) {
  return "runuser -u postgres -- " + shell_quote(cluster.server_bin() + "/pg_ctl") + " " +
         arguments;
}

void TestConnection::flush_statistics() {
  // 15 and later flush a session's statistics within a second of idling. 13
  // and 14 send them only when a statement ends half a second after the last
  // report, and never while the session idles: end one such statement.
  if (PQserverVersion(conn_.get()) < 150000) query("SELECT pg_sleep(0.6)");
}

PgCluster::PgCluster(PgClusterOptions options) : dir_(make_temp_dir()) {
  std::string arguments = "start " + shell_quote(dir_);
  if (options.replica) arguments += " --replica";
  if (options.checksums) arguments += " --checksums";
  for (const auto& setting : options.settings) arguments += " --set " + shell_quote(setting);
  if (!options.data_parent.empty())
    arguments += " --data-parent " + shell_quote(options.data_parent);
  try {
    fixture(arguments);
    load_environment();
  } catch (...) {
    // The fixture cleans up after a failed start; this covers a failure after it.
    run_command(shell_quote(PGVIGIL_FIXTURE) + " stop " + shell_quote(dir_));
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

PgCluster::~PgCluster() {
  try {
    run_command(shell_quote(PGVIGIL_FIXTURE) + " stop " + shell_quote(dir_));
  } catch (...) {
    // A destructor must not throw; the fixture's own stop is already bounded.
  }
}

void PgCluster::fixture(const std::string& arguments) {
  int exit_code = 0;
  std::string output = run_command(shell_quote(PGVIGIL_FIXTURE) + " " + arguments, &exit_code);
  if (exit_code != 0) {
    throw std::runtime_error("pgcluster " + arguments + " failed (exit " +
                             std::to_string(exit_code) + "):\n" + output);
  }
}

void PgCluster::load_environment() {
  std::ifstream in(dir_ + "/cluster.env");
  if (!in) throw std::runtime_error("pgcluster wrote no " + dir_ + "/cluster.env");
  std::map<std::string, std::string, std::less<>> values;
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    values[line.substr(0, eq)] = unquote_env_value(line.substr(eq + 1));
  }
  primary_port_ = parse_port(values["PRIMARY_PORT"], "PRIMARY_PORT");
  replica_port_ = parse_port(values["REPLICA_PORT"], "REPLICA_PORT");
  primary_data_ = values["PRIMARY_DATA"];
  replica_data_ = values["REPLICA_DATA"];
  primary_log_ = values["PRIMARY_LOG"];
  replica_log_ = values["REPLICA_LOG"];
  archive_dir_ = values["ARCHIVE_DIR"];
  socket_dir_ = values["SOCKET_DIR"];
  password_file_ = values["PASSWORD_FILE"];
  monitor_password_file_ = values["MONITOR_PASSWORD_FILE"];
  server_bin_ = values["PG_BIN"];
  try {
    major_ = std::stoi(values["PG_MAJOR"]);
  } catch (const std::exception&) {
    major_ = 0;
  }
  if (primary_port_ == 0 || primary_data_.empty() || password_file_.empty() ||
      server_bin_.empty() || major_ == 0) {
    throw std::runtime_error("pgcluster wrote an incomplete " + dir_ + "/cluster.env");
  }
  password_ = first_line_of(password_file_);
  monitor_password_ = first_line_of(monitor_password_file_);
}

int PgCluster::primary_port() const {
  return primary_port_;
}

int PgCluster::replica_port() const {
  if (replica_port_ == 0) throw std::logic_error("this PgCluster was started without a replica");
  return replica_port_;
}

std::string PgCluster::replica_data() const {
  if (replica_data_.empty()) throw std::logic_error("this PgCluster was started without a replica");
  return replica_data_;
}

std::string PgCluster::replica_log() const {
  if (replica_log_.empty()) throw std::logic_error("this PgCluster was started without a replica");
  return replica_log_;
}

std::string PgCluster::password() const {
  return password_;
}
std::string PgCluster::monitor_password() const {
  return monitor_password_;
}

std::string PgCluster::conninfo(int port, const std::string& dbname,
                                const std::string& user) const {
  std::string result = "host=127.0.0.1 port=" + std::to_string(port) +
                       " user=" + conninfo_quote(user) + " dbname=" + conninfo_quote(dbname);
  if (user == "postgres") {
    result += " password=" + conninfo_quote(password_);
  } else if (user == "pgvigil_monitor") {
    result += " password=" + conninfo_quote(monitor_password_);
  }
  return result;
}

std::string PgCluster::data_of(const std::string& which) const {
  if (which == "primary") return primary_data_;
  if (which == "replica") return replica_data();
  throw std::invalid_argument("unknown server '" + which + "' (expected primary or replica)");
}

void PgCluster::stop_server(const std::string& which, const std::string& mode) {
  data_of(which);  // validates which
  fixture("stop-server " + shell_quote(dir_) + " " + shell_quote(which) + " " + shell_quote(mode));
}

void PgCluster::start_server(const std::string& which) {
  data_of(which);
  fixture("start-server " + shell_quote(dir_) + " " + shell_quote(which));
}

void PgCluster::kill_server(const std::string& which) {
  data_of(which);
  fixture("kill " + shell_quote(dir_) + " " + shell_quote(which));
}

void PgCluster::promote() {
  replica_data();
  fixture("promote " + shell_quote(dir_));
}

pid_t PgCluster::postmaster_pid(const std::string& which) const {
  std::string path = data_of(which) + "/postmaster.pid";
  std::string line = first_line_of(path);
  try {
    std::size_t used = 0;
    long pid = std::stol(line, &used);
    if (used == line.size() && pid > 0) return static_cast<pid_t>(pid);
  } catch (const std::exception&) {
  }
  throw std::runtime_error(path + " does not start with a pid");
}

// ---------------------------------------------------------------- TestConnection

TestConnection::TestConnection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
  if (!conn_) throw std::runtime_error("PQconnectdb: out of memory");
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    // PQerrorMessage never repeats the password; the conninfo would.
    throw std::runtime_error(std::string("connection failed: ") + PQerrorMessage(conn_.get()));
  }
}

void TestConnection::discard_pending_results() {
  while (PGresult* pending = PQgetResult(conn_.get())) PQclear(pending);
}

std::vector<std::vector<std::optional<std::string>>> TestConnection::query(const std::string& sql) {
  discard_pending_results();
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn_.get(), sql.c_str()), &PQclear);
  if (!result) {
    throw std::runtime_error(std::string("query failed: ") + PQerrorMessage(conn_.get()));
  }
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const char* sqlstate = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    throw std::runtime_error(std::string(sqlstate != nullptr ? sqlstate : "?????") + ": " +
                             PQresultErrorMessage(result.get()));
  }
  std::vector<std::vector<std::optional<std::string>>> rows;
  int row_count = PQntuples(result.get());
  int column_count = PQnfields(result.get());
  rows.reserve(static_cast<std::size_t>(row_count));
  for (int r = 0; r < row_count; ++r) {
    auto& row = rows.emplace_back();
    row.reserve(static_cast<std::size_t>(column_count));
    for (int c = 0; c < column_count; ++c) {
      if (PQgetisnull(result.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                     static_cast<std::size_t>(PQgetlength(result.get(), r, c))));
      }
    }
  }
  return rows;
}

void TestConnection::send(const std::string& sql) {
  discard_pending_results();
  if (PQsendQuery(conn_.get(), sql.c_str()) != 1) {
    throw std::runtime_error(std::string("send failed: ") + PQerrorMessage(conn_.get()));
  }
}

int TestConnection::backend_pid() const {
  return PQbackendPID(conn_.get());
}

PGconn* TestConnection::raw() {
  return conn_.get();
}

}  // namespace pgvigil::test
