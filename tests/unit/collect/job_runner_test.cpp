// The job contract's two halves without a server: the catalogue's plan for a
// target (pure), and the runner storing every kind of outcome the same way.
// The jobs here are fakes of pure logic (they hand back prepared outcomes);
// the real kinds run against real PostgreSQL and Patroni in tests/integration.
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collect/job_catalogue.hpp"
#include "collect/job_runner.hpp"
#include "collect/target_monitor.hpp"
#include "probes/probe.hpp"

using namespace std::chrono_literals;
using pgvigil::collect::Job;
using pgvigil::collect::JobDone;
using pgvigil::collect::JobNeed;
using pgvigil::collect::JobOutcome;
using pgvigil::collect::JobSettings;
using pgvigil::collect::JobSpec;

namespace {

std::vector<std::string> keys_of(const std::vector<JobSpec>& plan) {
  std::vector<std::string> keys;
  for (const auto& spec : plan) keys.push_back(spec.key);
  return keys;
}

const JobSpec& find_spec(const std::vector<JobSpec>& plan, const std::string& key) {
  auto it = std::find_if(plan.begin(), plan.end(), [&](const auto& s) { return s.key == key; });
  REQUIRE(it != plan.end());
  return *it;
}

struct PlanFixture {
  boost::asio::io_context io;
  boost::asio::thread_pool workers{1};
  pgvigil::collect::JobFactory factory{io, workers};
  pgvigil::config::Config config;
  pgvigil::config::TargetConfig target;
  PlanFixture() { target.name = "db"; }
  ~PlanFixture() { workers.join(); }
};

}  // namespace

TEST_CASE("job catalogue: a plain target gets liveness and every default probe, in order") {
  PlanFixture f;
  auto plan = pgvigil::collect::plan_jobs(f.config, f.target, f.factory);
  std::vector<std::string> expected;
  for (const auto& probe : pgvigil::probe_catalogue())
    if (probe.source != pgvigil::ProbeSource::http && probe.source != pgvigil::ProbeSource::checks)
      expected.emplace_back(probe.name);
  CHECK(keys_of(plan) == expected);
  CHECK(find_spec(plan, "liveness").settings.interval == 1000ms);
  // Default timeout: the interval, at most 10 s.
  const auto& activity = find_spec(plan, "activity").settings;
  CHECK(activity.timeout == std::min<pgvigil::config::Duration>(activity.interval, 10s));
  for (const auto& spec : plan) {
    auto job = spec.make();
    REQUIRE(job);
    CHECK_FALSE(spec.rebuild);
  }
  CHECK(find_spec(plan, "disk").make()->survives_down());
  CHECK_FALSE(find_spec(plan, "activity").make()->survives_down());
}

TEST_CASE("job catalogue: target settings beat [probes.NAME], which beats the default") {
  PlanFixture f;
  f.config.probes["vacuum"].enabled = false;
  f.config.probes["locks"].interval = 30s;
  f.config.probes["activity"].interval = 30s;
  f.target.probes["activity"].interval = 5s;
  f.target.probes["activity"].timeout = 2s;
  f.config.probes["databases"].exclude_databases = {"template*"};
  f.target.probes["databases"].include_databases = {"app*"};
  auto plan = pgvigil::collect::plan_jobs(f.config, f.target, f.factory);
  const auto keys = keys_of(plan);
  CHECK(std::find(keys.begin(), keys.end(), "vacuum") == keys.end());
  CHECK(find_spec(plan, "locks").settings.interval == 30s);
  CHECK(find_spec(plan, "locks").settings.timeout == 10s);
  CHECK(find_spec(plan, "activity").settings.interval == 5s);
  CHECK(find_spec(plan, "activity").settings.timeout == 2s);
  CHECK(find_spec(plan, "databases").settings.include_databases ==
        std::vector<std::string>{"app*"});
  CHECK(find_spec(plan, "databases").settings.exclude_databases ==
        std::vector<std::string>{"template*"});
}

TEST_CASE("job catalogue: Patroni once a URL is named, one job per custom check") {
  PlanFixture f;
  f.target.patroni_url = "http://127.0.0.1:8008";
  pgvigil::config::CheckConfig check;
  check.name = "orders";
  check.sql = "SELECT 1";
  check.database = "app";
  check.interval = 7s;
  check.timeout = 3s;
  f.target.checks.push_back(check);
  auto plan = pgvigil::collect::plan_jobs(f.config, f.target, f.factory);
  const auto& patroni = find_spec(plan, "patroni");
  CHECK(patroni.settings.url == "http://127.0.0.1:8008");
  CHECK(patroni.settings.interval == 5000ms);
  CHECK(patroni.make()->need() == JobNeed::http);
  const auto& custom = find_spec(plan, "check:orders");
  CHECK(custom.rebuild);
  CHECK(custom.settings.interval == 7s);
  CHECK(custom.settings.timeout == 5s);
  CHECK(custom.settings.database == "app");
  auto job = custom.make();
  job->configure(custom.settings);
  CHECK(job->need() == JobNeed::database_walk);

  f.config.probes["patroni"].enabled = false;
  f.config.probes["checks"].enabled = false;
  const auto keys = keys_of(pgvigil::collect::plan_jobs(f.config, f.target, f.factory));
  CHECK(std::find(keys.begin(), keys.end(), "patroni") == keys.end());
  CHECK(std::find(keys.begin(), keys.end(), "check:orders") == keys.end());
}

namespace {

// A job that answers each run with the next prepared outcome.
class ScriptedJob final : public Job {
 public:
  ScriptedJob(JobNeed need, std::vector<JobOutcome> script)
      : need_(need), script_(std::move(script)) {}
  JobNeed need() const noexcept override { return need_; }
  void configure(const JobSettings&) override { ++configured; }
  void run(const std::shared_ptr<pgvigil::TargetMonitor>&, JobDone done) override {
    ++runs;
    if (script_.empty()) return done(JobOutcome{false, JobOutcome::Store::keep, {}});
    auto next = std::move(script_.front());
    script_.erase(script_.begin());
    done(std::move(next));
  }
  int runs = 0;
  int configured = 0;

 private:
  JobNeed need_;
  std::vector<JobOutcome> script_;
};

JobOutcome gauge_round(double value) {
  pgvigil::SampleSink sink;
  sink.gauge("pg_test_value", "A test gauge.", {{"datname", "app"}}, value);
  sink.evidence("test.note", "value " + std::to_string(value));
  return JobOutcome::replaced(true, std::move(sink));
}

struct RunnerFixture {
  using Clock = pgvigil::collect::Scheduler::Clock;
  Clock::time_point now = Clock::time_point{} + 1000h;
  pgvigil::collect::Scheduler scheduler{
      now, [] { return std::chrono::system_clock::time_point{1'800'000'000s}; },
      [this] { return now; }};
  pgvigil::MetricsStore store;
  pgvigil::collect::JobRunner runner{scheduler, store};
  boost::asio::io_context io;
  std::shared_ptr<pgvigil::TargetMonitor> monitor;

  RunnerFixture() {
    auto target = std::make_shared<pgvigil::config::TargetConfig>();
    target->name = "db";
    target->labels = {{"env", "prod"}};
    monitor = std::make_shared<pgvigil::TargetMonitor>(
        io, store, target, pgvigil::BuiltConnParams{}, pgvigil::MonitorOptions{});
  }
  void tick() {
    now += 1ms;
    scheduler.advance(now);
  }
  static JobSpec spec(const std::string& key, std::shared_ptr<Job> job) {
    JobSettings settings;
    settings.interval = 60s;
    return {key, settings, [job] { return job; }};
  }
};

}  // namespace

TEST_CASE("job runner: a round replaces the job's series, labelled with the target once") {
  RunnerFixture f;
  auto job = std::make_shared<ScriptedJob>(JobNeed::session,
                                           std::vector<JobOutcome>{gauge_round(1), gauge_round(2)});
  f.runner.sync(f.monitor, {RunnerFixture::spec("probe_a", job)});
  CHECK_FALSE(f.runner.all_ran_once());
  f.tick();  // a new job runs at once, not at its phase
  CHECK(job->runs == 1);
  CHECK(f.runner.all_ran_once());
  auto samples = f.store.samples("db", "pg_test_value");
  REQUIRE(samples.size() == 1);
  // The stored sample has its own labels; the identity is in the text only.
  CHECK(samples[0].first == pgvigil::Labels{{"datname", "app"}});
  CHECK(samples[0].second == 1);
  std::string text;
  f.store.write_text(text);
  CHECK(text.find("pg_test_value{target=\"db\",env=\"prod\",datname=\"app\"} 1") !=
        std::string::npos);
  REQUIRE(f.store.evidence("db", "probe_a") != nullptr);
  CHECK(f.store.evidence("db", "probe_a")->at("test.note") == "value 1.000000");

  f.runner.run_session_jobs_soon("db");
  f.tick();
  CHECK(job->runs == 2);
  CHECK(f.store.samples("db", "pg_test_value").at(0).second == 2);
}

TEST_CASE("job runner: drop removes the series, keep leaves them, a removed job takes its own") {
  RunnerFixture f;
  auto dropping = std::make_shared<ScriptedJob>(
      JobNeed::session, std::vector<JobOutcome>{gauge_round(1), JobOutcome::dropped()});
  auto keeping = std::make_shared<ScriptedJob>(
      JobNeed::http,
      std::vector<JobOutcome>{gauge_round(5), JobOutcome{false, JobOutcome::Store::keep, {}}});
  f.runner.sync(f.monitor, {RunnerFixture::spec("a", dropping), RunnerFixture::spec("b", keeping)});
  f.tick();
  CHECK(f.store.probes_of("db") == std::vector<std::string>{"a", "b"});
  f.runner.run_session_jobs_soon("db");  // only session and database jobs
  f.tick();
  CHECK(dropping->runs == 2);
  CHECK(keeping->runs == 1);
  CHECK(f.store.probes_of("db") == std::vector<std::string>{"b"});

  // Reconfigured, not remade: the job object (and its state) stays.
  f.runner.sync(f.monitor, {RunnerFixture::spec("b", keeping)});
  CHECK(keeping->configured == 2);
  CHECK(f.store.probes_of("db") == std::vector<std::string>{"b"});
  f.runner.sync(f.monitor, {});
  CHECK(f.store.probes_of("db").empty());
  CHECK(f.scheduler.job_count() == 0);
}

TEST_CASE("job runner: removing a target drops its jobs, series and first-round marks") {
  RunnerFixture f;
  auto job = std::make_shared<ScriptedJob>(JobNeed::host, std::vector<JobOutcome>{gauge_round(1)});
  f.runner.sync(f.monitor, {RunnerFixture::spec("disk", job)});
  f.tick();
  CHECK(f.runner.ran_once({"db", "disk"}));
  f.runner.remove_target("db");
  CHECK_FALSE(f.runner.ran_once({"db", "disk"}));
  CHECK(f.store.probes_of("db").empty());
  CHECK(f.scheduler.job_count() == 0);
  CHECK(f.runner.all_ran_once());  // nothing left to wait for
}

namespace {

// A session job whose runs finish when the test says so.
class HeldJob final : public Job {
 public:
  JobNeed need() const noexcept override { return JobNeed::session; }
  void configure(const JobSettings&) override {}
  void run(const std::shared_ptr<pgvigil::TargetMonitor>&, JobDone done) override {
    held.push_back(std::move(done));
  }
  void finish_all() {
    auto runs = std::move(held);
    held.clear();
    for (auto& done : runs) done(gauge_round(1));
  }
  std::vector<JobDone> held;
};

}  // namespace

TEST_CASE("job runner: a first round holds its gate slot until its last job finishes") {
  RunnerFixture f;
  auto gate = pgvigil::collect::ConnectGate::create(f.io, 8);
  auto first = std::make_shared<HeldJob>();
  auto second = std::make_shared<HeldJob>();
  auto host = std::make_shared<ScriptedJob>(JobNeed::host, std::vector<JobOutcome>{});
  f.runner.sync(f.monitor, {RunnerFixture::spec("a", first), RunnerFixture::spec("b", second),
                            RunnerFixture::spec("disk", host)});
  f.tick();  // the new jobs' own first runs
  first->finish_all();
  second->finish_all();

  std::optional<pgvigil::collect::ConnectGate::Ticket> slot;
  gate->acquire([&](pgvigil::collect::ConnectGate::Ticket t) { slot.emplace(std::move(t)); },
                pgvigil::collect::Admission::first_round);
  f.io.restart();
  f.io.poll();
  REQUIRE(slot);
  f.runner.run_session_jobs_soon("db", std::move(*slot));
  CHECK(gate->first_rounds_in_flight() == 1);
  f.tick();
  CHECK(first->held.size() == 1);
  CHECK(second->held.size() == 1);
  first->finish_all();
  CHECK(gate->first_rounds_in_flight() == 1);  // b still runs (the host job never counted)
  second->finish_all();
  CHECK(gate->first_rounds_in_flight() == 0);

  // A target removed mid-round lets its slot go too.
  gate->acquire([&](pgvigil::collect::ConnectGate::Ticket t) { slot.emplace(std::move(t)); },
                pgvigil::collect::Admission::first_round);
  f.io.restart();
  f.io.poll();
  f.runner.run_session_jobs_soon("db", std::move(*slot));
  f.tick();
  CHECK(gate->first_rounds_in_flight() == 1);
  f.runner.remove_target("db");
  CHECK(gate->first_rounds_in_flight() == 0);
}
