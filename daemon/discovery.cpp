#include "daemon/discovery.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace pgvigil {

namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Discovery::Discovery(boost::asio::io_context& io, boost::asio::thread_pool& workers,
                     prometheus::Registry& registry, std::function<void()> changed)
    : io_(io),
      workers_(workers),
      changed_(std::move(changed)),
      failures_(prometheus::BuildCounter()
                    .Name("pgvigil_sd_refresh_failures_total")
                    .Help("Discovery refreshes that failed (the last good target list stayed).")
                    .Register(registry)),
      last_success_(prometheus::BuildGauge()
                        .Name("pgvigil_sd_last_refresh_success_timestamp_seconds")
                        .Help("When the discovery source last refreshed without a problem "
                              "(unix time).")
                        .Register(registry)),
      targets_(prometheus::BuildGauge()
                   .Name("pgvigil_sd_targets")
                   .Help("Targets this process monitors from the discovery source (after "
                         "sharding and conflicts).")
                   .Register(registry)) {}

Discovery::~Discovery() {
  stop();
}

void Discovery::stop() {
  for (auto& [name, source] : sources_)
    if (source.io) source.io->stop();
}

void Discovery::configure(const config::Config& config) {
  std::map<std::string, Source> previous = std::move(sources_);
  sources_.clear();
  order_.clear();
  for (auto& [name, source] : previous)
    if (source.io) source.io->stop();

  const auto report = [this](collect::SdRefresh refresh) { on_refresh(std::move(refresh)); };
  const auto add = [&](const std::string& name, auto make) {
    Source source;
    if (auto old = previous.find(name); old != previous.end()) {
      source.entries = std::move(old->second.entries);
      source.errors = std::move(old->second.errors);
      previous.erase(old);
    }
    const prometheus::Labels labels{{"source", name}};
    source.failures = &failures_.Add(labels);
    source.last_success = &last_success_.Add(labels);
    source.targets = &targets_.Add(labels);
    source.io = make(source.entries);
    order_.push_back(name);
    sources_.emplace(name, std::move(source));
  };
  const std::string base = collect::config_directory(config.source_path);
  for (const auto& sd : config.file_sd) {
    add(sd.name, [&](const std::vector<config::SdEntry>& last_good) {
      return std::make_shared<collect::FileSdSource>(io_, workers_, sd, base, last_good, report);
    });
  }
  for (const auto& sd : config.http_sd) {
    add(sd.name, [&](const std::vector<config::SdEntry>& last_good) {
      return std::make_shared<collect::HttpSdSource>(io_, sd, last_good, report);
    });
  }
  for (const auto& sd : config.patroni_sd) {
    add(sd.name, [&](const std::vector<config::SdEntry>& last_good) {
      return std::make_shared<collect::PatroniSdSource>(io_, sd, last_good, report);
    });
  }
  for (auto& [name, source] : previous) {  // removed sources: their series go
    failures_.Remove(source.failures);
    last_success_.Remove(source.last_success);
    targets_.Remove(source.targets);
  }
  for (const auto& name : order_) sources_.at(name).io->start();
}

std::vector<collect::DiscoveredSource> Discovery::sources() const {
  std::vector<collect::DiscoveredSource> out;
  for (const auto& name : order_) out.push_back({name, sources_.at(name).entries});
  return out;
}

void Discovery::on_refresh(collect::SdRefresh refresh) {
  const auto found = sources_.find(refresh.source);
  if (found == sources_.end()) return;  // a source of an older config
  Source& source = found->second;
  if (refresh.errors.empty()) {
    source.last_success->Set(unix_now());
    if (!source.errors.empty())
      spdlog::info("discovery: source {} refreshes again ({} entries)", refresh.source,
                   refresh.entries.size());
  } else {
    source.failures->Increment();
    // One log line per change of the problems, not per refresh.
    if (refresh.errors != source.errors) {
      for (const auto& error : refresh.errors)
        spdlog::error("discovery: source {}: {}", refresh.source, error);
      spdlog::error("discovery: source {} keeps its last good list ({} entries)", refresh.source,
                    refresh.entries.size());
    }
  }
  source.errors = std::move(refresh.errors);
  if (refresh.entries == source.entries) return;
  source.entries = std::move(refresh.entries);
  if (changed_) changed_();
}

void Discovery::note_target_set(const collect::TargetSet& set) {
  for (const auto& name : order_) {
    const auto count = set.per_source.find(name);
    sources_.at(name).targets->Set(
        count == set.per_source.end() ? 0.0 : static_cast<double>(count->second));
  }
  std::set<std::string> now(set.problems.begin(), set.problems.end());
  for (const auto& problem : now)
    if (!logged_problems_.count(problem)) spdlog::warn("discovery: {}", problem);
  logged_problems_ = std::move(now);
}

}  // namespace pgvigil
