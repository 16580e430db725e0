#include "collect/job_catalogue.hpp"

#include "collect/jobs.hpp"
#include "probes/checks.hpp"
#include "probes/collectors.hpp"
#include "probes/probe.hpp"

namespace pgvigil::collect {

using namespace std::chrono_literals;

namespace {

constexpr config::Duration kMaxDefaultTimeout = 10s;

const config::ProbeSettings* find_settings(const std::map<std::string, config::ProbeSettings>& m,
                                           const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

// Target override, then [probes.NAME], then the probe's own default.
template <class T, class Field>
T resolve(const config::Config& cfg, const config::TargetConfig& target, const std::string& probe,
          Field field, T fallback) {
  if (const auto* s = find_settings(target.probes, probe); s && (s->*field)) return *(s->*field);
  if (const auto* s = find_settings(cfg.probes, probe); s && (s->*field)) return *(s->*field);
  return fallback;
}

std::vector<std::string> resolve_list(const config::Config& cfg, const config::TargetConfig& target,
                                      const std::string& probe,
                                      std::vector<std::string> config::ProbeSettings::*field) {
  if (const auto* s = find_settings(target.probes, probe); s && !(s->*field).empty())
    return s->*field;
  if (const auto* s = find_settings(cfg.probes, probe); s) return s->*field;
  return {};
}

JobSettings settings_for(const config::Config& cfg, const config::TargetConfig& target,
                         const std::string& probe, config::Duration default_interval) {
  JobSettings settings;
  settings.interval = resolve<config::Duration>(cfg, target, probe,
                                                &config::ProbeSettings::interval, default_interval);
  settings.timeout =
      resolve<config::Duration>(cfg, target, probe, &config::ProbeSettings::timeout,
                                std::min<config::Duration>(settings.interval, kMaxDefaultTimeout));
  settings.include_databases =
      resolve_list(cfg, target, probe, &config::ProbeSettings::include_databases);
  settings.exclude_databases =
      resolve_list(cfg, target, probe, &config::ProbeSettings::exclude_databases);
  settings.state_directory = cfg.state_directory;
  return settings;
}

}  // namespace

std::vector<JobSpec> plan_jobs(const config::Config& cfg, const config::TargetConfig& target,
                               const JobFactory& factory) {
  std::vector<JobSpec> jobs;
  for (const auto& descriptor : probe_catalogue()) {
    const std::string name(descriptor.name);
    const bool enabled = descriptor.source == ProbeSource::liveness ||
                         resolve<bool>(cfg, target, name, &config::ProbeSettings::enabled,
                                       descriptor.enabled_by_default);
    if (!enabled) continue;
    switch (descriptor.source) {
      case ProbeSource::liveness:
        jobs.push_back({name, settings_for(cfg, target, name, descriptor.default_interval),
                        [] { return std::make_shared<LivenessJob>(); }});
        break;
      case ProbeSource::sql: {
        std::shared_ptr<SqlProbe> probe = descriptor.make_sql();
        auto settings = settings_for(cfg, target, name, probe->default_interval());
        jobs.push_back(
            {name, std::move(settings), [probe] { return std::make_shared<SqlProbeJob>(probe); }});
        break;
      }
      case ProbeSource::host: {
        std::shared_ptr<HostProbe> probe = descriptor.make_host();
        auto settings = settings_for(cfg, target, name, probe->default_interval());
        jobs.push_back(
            {name, std::move(settings), [probe, &io = factory.io, &workers = factory.workers] {
               return std::make_shared<HostProbeJob>(probe, io, workers);
             }});
        break;
      }
      case ProbeSource::http: {
        if (target.patroni_url.empty()) break;
        auto settings = settings_for(cfg, target, name, descriptor.default_interval);
        settings.url = target.patroni_url;
        jobs.push_back({name, std::move(settings),
                        [&io = factory.io] { return std::make_shared<PatroniJob>(io); }});
        break;
      }
      case ProbeSource::checks:
        for (const auto& check : target.checks) {
          JobSettings settings;
          settings.interval = check.interval;
          settings.timeout = check.timeout + 2s;  // the statement's own timeout ends it first
          settings.database = check.database;
          settings.state_directory = cfg.state_directory;
          jobs.push_back(
              {"check:" + check.name, std::move(settings),
               [check] { return std::make_shared<SqlProbeJob>(make_custom_check_probe(check)); },
               true});
        }
        break;
    }
  }
  // Custom collectors: on the monitoring session, in one other database, or
  // over the database walk (one short-lived connection at a time).
  for (const auto& collector : target.collectors) {
    JobSettings settings;
    settings.interval = collector.interval;
    settings.timeout = collector.timeout + 2s;  // the statement's own timeout ends it first
    if (collector.walks_databases()) {
      settings.include_databases = collector.databases;
      settings.exclude_databases = collector.exclude_databases;
    } else if (!collector.databases.empty()) {
      settings.database = collector.databases.front();
    }
    settings.state_directory = cfg.state_directory;
    jobs.push_back({"collector:" + collector.name, std::move(settings),
                    [collector] {
                      return std::make_shared<SqlProbeJob>(
                          std::make_shared<CollectorProbe>(collector));
                    },
                    true});
  }
  return jobs;
}

}  // namespace pgvigil::collect
