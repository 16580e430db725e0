#pragma once
// The "logs" host probe: tails the target's PostgreSQL server log, classifies
// each message and counts them by severity and class.
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "probes/log_tailer.hpp"
#include "probes/probe.hpp"

namespace pgvigil {

class LogsProbe final : public HostProbe {
 public:
  std::string_view name() const noexcept override { return "logs"; }
  config::Duration default_interval() const noexcept override { return config::Duration{5'000}; }
  void collect(const HostContext& ctx, SampleSink& out) override;

  // The state file name for a target (safe characters only), under state_directory.
  static std::string state_file_name(std::string_view target_name);

 private:
  void count(std::string_view record, double now_seconds);

  std::unique_ptr<LogTailer> tailer_;
  std::string tailer_key_;  // path + state file the tailer was built for
  std::map<std::pair<std::string, std::string>, double> messages_;  // {severity, class} -> count
  std::map<std::string, double> last_seen_;                         // class -> unix seconds
  std::map<std::string, std::string> last_line_;                    // class -> masked line
  double lines_read_ = 0;
  double bytes_read_ = 0;
  double unparsed_lines_ = 0;
};

std::unique_ptr<HostProbe> make_logs_probe();

}  // namespace pgvigil
