#pragma once
// The "datadir" host probe: the data directory's existence, ownership and
// mode, and the state of postmaster.pid (stale? is its port listening?).
// Read-only: it never changes anything in the data directory.
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "probes/probe.hpp"

namespace pgvigil {

// postmaster.pid as PostgreSQL writes it (miscadmin.h LOCK_FILE_LINE_*):
// 1 PID (negative in single-user mode), 2 data directory, 3 start time (unix
// seconds), 4 port, 5 first socket directory, 6 first listen address,
// 7 shared memory key and id, 8 status (starting/stopping/ready/standby).
struct PostmasterPid {
  long pid = 0;  // always positive here
  bool single_user = false;
  std::string data_directory;
  std::optional<long long> start_time;
  std::optional<std::uint16_t> port;
  std::string socket_directory;
  std::string listen_address;
  std::string shared_memory_key;
  std::string status;  // may be absent in a file a starting server is still writing
};

// nullopt when the first line is not a PID.
std::optional<PostmasterPid> parse_postmaster_pid(std::string_view text);

// The local ports of the sockets in LISTEN state (0A) in /proc/net/tcp or
// tcp6 text.
std::set<std::uint16_t> tcp_table_listeners(std::string_view proc_net_tcp);
// True when that text holds a listener on this local port.
bool tcp_table_has_listener(std::string_view proc_net_tcp, std::uint16_t port);

// PostgreSQL accepts a data directory of mode 0700, or 0750 (group access).
bool datadir_mode_ok(unsigned mode) noexcept;

// /proc/PID/comm of a PostgreSQL postmaster: "postgres" (or "postmaster").
bool is_postgres_comm(std::string_view comm) noexcept;

class DatadirProbe final : public HostProbe {
 public:
  std::string_view name() const noexcept override { return "datadir"; }
  config::Duration default_interval() const noexcept override { return config::Duration{10'000}; }
  void collect(const HostContext& ctx, SampleSink& out) override;
};

std::unique_ptr<HostProbe> make_datadir_probe();

}  // namespace pgvigil
