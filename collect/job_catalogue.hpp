#pragma once
// From the probe catalogue (probes/catalogue.cpp) and the config to one
// target's jobs: which probes are on, their interval, timeout and database
// filters (target override, then [probes.NAME], then the probe's default),
// and how to make each job. Pure planning; the JobRunner applies the plan.
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "collect/job.hpp"
#include "config/config.hpp"

namespace pgvigil::collect {

struct JobSpec {
  std::string key;  // the probe name, or "check:NAME" for a custom check
  JobSettings settings;
  std::function<std::shared_ptr<Job>()> make;
  // Made anew on every apply instead of reconfigured (custom checks: their
  // SQL and expectation are the job).
  bool rebuild = false;
};

struct JobFactory {
  boost::asio::io_context& io;
  boost::asio::thread_pool& workers;
};

std::vector<JobSpec> plan_jobs(const config::Config& config, const config::TargetConfig& target,
                               const JobFactory& factory);

}  // namespace pgvigil::collect
