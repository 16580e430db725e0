#include "probes/datadir.hpp"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <vector>

#include "config/text.hpp"
#include "probes/bounded_read.hpp"
#include "probes/shared_reading.hpp"

namespace pgvigil {

namespace {

constexpr std::size_t kMaxPidFileBytes = 16 * 1024;
constexpr std::size_t kMaxTcpTableBytes = 16 * 1024 * 1024;

template <typename Int>
std::optional<Int> to_int(std::string_view text, int base = 10) {
  text = config::trim(text);
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

struct ProcessCheck {
  bool running = false;
  std::string detail;
};

ProcessCheck check_process(long pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
    return {false, "no process " + std::to_string(pid)};
  // The PID exists (EPERM also means it exists): make sure it is still a
  // postmaster and not an unrelated program that reused the number.
  int error = 0;
  auto comm = read_bounded("/proc/" + std::to_string(pid) + "/comm", 256, error);
  if (!comm) return {true, "process " + std::to_string(pid) + " exists"};
  auto name = config::trim(*comm);
  if (!is_postgres_comm(name))
    return {false, "PID " + std::to_string(pid) + " is now '" + std::string(name) + "'"};
  return {true, "postmaster " + std::to_string(pid) + " is running"};
}

// "uid 105 (postgres)", or just the uid when no user has it.
std::string describe_uid(unsigned uid) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  std::vector<char> buffer(4096);
  std::string text = "uid " + std::to_string(uid);
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr)
    text += std::string(" (") + found->pw_name + ")";
  return text;
}

}  // namespace

std::optional<PostmasterPid> parse_postmaster_pid(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty() && lines.size() < 8) {
    auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  if (lines.empty()) return std::nullopt;
  auto pid = to_int<long>(lines[0]);
  if (!pid || *pid == 0) return std::nullopt;
  PostmasterPid result;
  result.single_user = *pid < 0;  // a standalone backend writes -PID
  result.pid = *pid < 0 ? -*pid : *pid;
  auto line = [&](std::size_t i) {
    return i < lines.size() ? config::trim(lines[i]) : std::string_view{};
  };
  result.data_directory = std::string(line(1));
  result.start_time = to_int<long long>(line(2));
  if (auto port = to_int<unsigned>(line(3)); port && *port > 0 && *port <= 65535)
    result.port = static_cast<std::uint16_t>(*port);
  result.socket_directory = std::string(line(4));
  result.listen_address = std::string(line(5));
  result.shared_memory_key = std::string(line(6));
  result.status = std::string(line(7));
  return result;
}

std::set<std::uint16_t> tcp_table_listeners(std::string_view table) {
  constexpr std::string_view kListen = "0A";
  std::set<std::uint16_t> ports;
  while (!table.empty()) {
    auto nl = table.find('\n');
    auto line = table.substr(0, nl);
    table.remove_prefix(nl == std::string_view::npos ? table.size() : nl + 1);
    // "  sl  local_address rem_address   st ..." : fields 1 (local) and 3 (state).
    std::vector<std::string_view> fields;
    std::size_t pos = 0;
    while (pos < line.size() && fields.size() < 4) {
      while (pos < line.size() && line[pos] == ' ') ++pos;
      auto end = line.find(' ', pos);
      if (end == std::string_view::npos) end = line.size();
      if (end > pos) fields.push_back(line.substr(pos, end - pos));
      pos = end;
    }
    if (fields.size() < 4 || fields[3] != kListen) continue;
    auto colon = fields[1].rfind(':');
    if (colon == std::string_view::npos) continue;
    auto local_port = to_int<unsigned>(fields[1].substr(colon + 1), 16);
    if (local_port && *local_port <= 65535) ports.insert(static_cast<std::uint16_t>(*local_port));
  }
  return ports;
}

bool tcp_table_has_listener(std::string_view table, std::uint16_t port) {
  return tcp_table_listeners(table).contains(port);
}

namespace {

// Reading /proc/net/tcp walks every TCP socket of the host in the kernel,
// and every local target's probe asked it: with a fleet (each target with
// its own connections) the reads grew with the square of the targets, and
// were a third of the agent's CPU at 50 targets. One read of both tables
// now serves every target for kListenersTtl. `fresh` skips the shared read:
// a target whose postmaster.pid went stale is an incident, and its evidence
// must be current.
constexpr auto kListenersTtl = std::chrono::seconds(2);

bool port_listening(std::uint16_t port, bool fresh, std::chrono::system_clock::time_point now) {
  using Listeners = std::shared_ptr<const std::set<std::uint16_t>>;
  static SharedReadings<Listeners> tables(kListenersTtl);
  auto listeners = tables.get("tcp", now, fresh ? std::chrono::seconds(0) : kListenersTtl, [] {
    std::set<std::uint16_t> found;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
      int table_error = 0;
      if (auto content = read_bounded(table, kMaxTcpTableBytes, table_error))
        found.merge(tcp_table_listeners(*content));
    }
    return std::make_shared<const std::set<std::uint16_t>>(std::move(found));
  });
  return listeners->contains(port);
}

}  // namespace

bool datadir_mode_ok(unsigned mode) noexcept {
  auto permissions = mode & 07777u;
  return permissions == 0700u || permissions == 0750u;
}

bool is_postgres_comm(std::string_view comm) noexcept {
  comm = config::trim(comm);
  return comm == "postgres" || comm == "postmaster";
}

namespace {

// Everything the probe says about one data directory; the same for every
// target of that server.
void read_data_directory(const std::string& dir, const HostContext& ctx, SampleSink& out) {
  std::string evidence = "data directory " + dir + ": ";

  struct stat dir_stat {};
  bool exists = ::stat(dir.c_str(), &dir_stat) == 0 && S_ISDIR(dir_stat.st_mode);
  out.gauge("pg_datadir_exists", "1 when the data directory exists and is a directory.", {},
            exists ? 1 : 0);
  if (!exists) {
    out.evidence("datadir.pidfile", evidence + "missing or not a directory");
    return;
  }

  // PG_VERSION is written by initdb as the cluster's owner.
  struct stat version_stat {};
  bool has_version = ::stat((dir + "/PG_VERSION").c_str(), &version_stat) == 0;
  auto expected_uid = has_version ? version_stat.st_uid : dir_stat.st_uid;
  bool mode_ok = datadir_mode_ok(static_cast<unsigned>(dir_stat.st_mode));
  bool owner_ok = dir_stat.st_uid == expected_uid;
  out.gauge("pg_datadir_ownership_ok",
            "1 when the data directory belongs to the cluster's owner with mode 0700 or 0750.", {},
            mode_ok && owner_ok ? 1 : 0);
  char mode_text[8];
  std::snprintf(mode_text, sizeof mode_text, "%04o", dir_stat.st_mode & 07777u);
  evidence += "owner uid " + std::to_string(dir_stat.st_uid) + ", mode " + mode_text;
  if (!owner_ok) evidence += " (PG_VERSION belongs to uid " + std::to_string(expected_uid) + ")";
  if (!mode_ok) evidence += " (PostgreSQL requires 0700 or 0750)";
  evidence += "; ";
  // What PostgreSQL checks before it starts (checkDataDir), found vs expected.
  out.evidence("datadir.ownership",
               "data directory " + dir + ": owner " + describe_uid(dir_stat.st_uid) + ", mode " +
                   mode_text + (mode_ok && owner_ok ? " (as PostgreSQL requires)" : "") +
                   "\nexpected: owner " + describe_uid(expected_uid) +
                   (has_version ? " (the owner of PG_VERSION, the user initdb ran as)"
                                : " (no PG_VERSION: not an initialized data directory?)") +
                   ", mode 0700 (or 0750 with group access)\n");

  auto pid_path = dir + "/postmaster.pid";
  int error = 0;
  auto text = read_bounded(pid_path, kMaxPidFileBytes, error);
  if (!text) {
    if (error == ENOENT) {
      out.gauge("pg_datadir_pidfile_exists", "1 when postmaster.pid exists.", {}, 0);
      out.gauge("pg_datadir_stale_pidfile",
                "1 when postmaster.pid names a process that is not a running postmaster.", {}, 0);
      out.evidence("datadir.pidfile", evidence + "no postmaster.pid (server not running)");
    } else {
      // Most often EACCES: pgvigil is not the cluster's owner. Say so, guess nothing.
      spdlog::debug("datadir probe [{}]: cannot read {}: {}", ctx.target.name, pid_path,
                    std::strerror(error));
      out.evidence("datadir.pidfile",
                   evidence + "cannot read postmaster.pid: " + std::strerror(error));
    }
    return;
  }
  out.gauge("pg_datadir_pidfile_exists", "1 when postmaster.pid exists.", {}, 1);
  auto parsed = parse_postmaster_pid(*text);
  if (!parsed) {
    out.evidence("datadir.pidfile", evidence + "postmaster.pid has no PID on its first line");
    return;
  }
  auto process = check_process(parsed->pid);
  out.gauge("pg_datadir_stale_pidfile",
            "1 when postmaster.pid names a process that is not a running postmaster.", {},
            process.running ? 0 : 1);
  evidence += "postmaster.pid: PID " + std::to_string(parsed->pid) + " (" + process.detail + ")";
  if (!parsed->status.empty()) evidence += ", status " + parsed->status;
  // An empty listen address line means listen_addresses = '': Unix sockets only.
  if (parsed->port && !parsed->listen_address.empty()) {
    const bool listening = port_listening(*parsed->port, !process.running, ctx.now);
    out.gauge("pg_datadir_pidfile_port_listening",
              "1 when a TCP socket listens on the port named in postmaster.pid.", {},
              listening ? 1 : 0);
    evidence += ", port " + std::to_string(*parsed->port) +
                (listening ? " listening" : " not listening on TCP");
  }
  out.evidence("datadir.pidfile", std::move(evidence));
}

}  // namespace

void DatadirProbe::collect(const HostContext& ctx, SampleSink& out) {
  // Remote or unknown: nothing local to look at. A configured path wins.
  const std::string dir = ctx.target.data_directory.value_or(ctx.data_directory);
  if (dir.empty()) return;
  static SharedReadings<std::shared_ptr<const SampleSink>> readings(std::chrono::minutes(1));
  auto reading = readings.get(dir, ctx.now, shared_reading_max_age(ctx.interval), [&] {
    auto sink = std::make_shared<SampleSink>();
    read_data_directory(dir, ctx, *sink);
    return std::shared_ptr<const SampleSink>(std::move(sink));
  });
  out = *reading;  // the round's whole output is the directory's reading
}

std::unique_ptr<HostProbe> make_datadir_probe() {
  return std::make_unique<DatadirProbe>();
}

}  // namespace pgvigil
