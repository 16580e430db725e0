#include "probes/logs.hpp"

#include <spdlog/spdlog.h>

#include "probes/log_classifier.hpp"

namespace pgvigil {

namespace {

constexpr std::array<std::string_view, 3> kAlwaysEmittedSeverities{"PANIC", "FATAL", "ERROR"};

bool ends_with_csv(std::string_view path) noexcept {
  return path.ends_with(".csv");
}

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

std::string LogsProbe::state_file_name(std::string_view target_name) {
  std::string name = "logs-";
  for (char c : target_name) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
    name += safe ? c : '_';
  }
  return name + ".state";
}

void LogsProbe::count(std::string_view record, double now_seconds) {
  lines_read_ += 1;
  auto result = classify_log_line(record);
  if (result.severity.empty()) {
    // Continuations belong to the previous message; anything else is text
    // we could not read as a PostgreSQL log line.
    if (!result.continuation) unparsed_lines_ += 1;
    return;
  }
  std::string klass(result.log_class);
  messages_[{result.severity, klass}] += 1;
  last_seen_[klass] = now_seconds;
  last_line_[klass] = evidence_line(record);
}

void LogsProbe::collect(const HostContext& ctx, SampleSink& out) {
  if (!ctx.target.log || ctx.target.log->path.empty()) return;
  const auto& log = *ctx.target.log;
  std::string state_file;
  if (!ctx.state_directory.empty())
    state_file = ctx.state_directory + "/" + state_file_name(ctx.target.name);
  auto key = log.path + "\n" + state_file;
  if (!tailer_ || key != tailer_key_) {
    LogTailer::Options options;
    options.path_or_glob = log.path;
    options.state_file = state_file;
    options.format = ends_with_csv(log.path) ? RecordFormat::csv : RecordFormat::lines;
    options.max_bytes_per_round = log.max_bytes_per_round;
    tailer_ = std::make_unique<LogTailer>(std::move(options));
    tailer_key_ = key;
  }

  auto round = tailer_->poll();
  if (!round.error.empty()) spdlog::debug("logs probe [{}]: {}", ctx.target.name, round.error);
  bytes_read_ += static_cast<double>(round.bytes_read);
  auto now_seconds = unix_seconds(ctx.now);
  for (const auto& record : round.records) count(record, now_seconds);

  constexpr std::string_view kMessagesHelp =
      "PostgreSQL log messages read since pgvigil started, by severity and problem class.";
  for (auto severity : kAlwaysEmittedSeverities)
    for (auto klass : kLogClasses)
      messages_.try_emplace({std::string(severity), std::string(klass)}, 0.0);
  for (const auto& [key_pair, value] : messages_)
    out.counter("pg_log_messages_total", kMessagesHelp,
                {{"severity", key_pair.first}, {"class", key_pair.second}}, value);
  for (const auto& [klass, seconds] : last_seen_)
    out.gauge("pg_log_last_message_timestamp_seconds",
              "Unix time of the probe round that last read a message of this class.",
              {{"class", klass}}, seconds);
  out.counter("pg_log_lines_read_total", "Log records read since pgvigil started.", {},
              lines_read_);
  out.counter("pg_log_bytes_read_total", "Log bytes read since pgvigil started.", {}, bytes_read_);
  out.counter("pg_log_unparsed_lines_total",
              "Log records that were neither a PostgreSQL message nor a continuation.", {},
              unparsed_lines_);
  for (const auto& [klass, line] : last_line_) out.evidence("logs.last." + klass, line);
}

std::unique_ptr<HostProbe> make_logs_probe() {
  return std::make_unique<LogsProbe>();
}

}  // namespace pgvigil
