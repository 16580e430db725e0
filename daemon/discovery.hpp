#pragma once
// The discovery sources of the running config ([[file_sd]], [[http_sd]]):
// started and stopped on reload, each source's last good entry list, the
// pgvigil_sd_* metrics, and one log line per change of a source's problems.
// What the entries become is collect/target_set's business.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "collect/sd_sources.hpp"
#include "collect/target_set.hpp"
#include "config/config.hpp"

namespace pgvigil {

class Discovery {
 public:
  // changed runs on the loop when a source's entry list changed.
  Discovery(boost::asio::io_context& io, boost::asio::thread_pool& workers,
            prometheus::Registry& registry, std::function<void()> changed);
  ~Discovery();

  // Starts the config's sources (stopping the previous ones); a source that
  // keeps its name keeps its last good list until its first refresh.
  void configure(const config::Config& config);
  void stop();

  // Every configured source's last good list, in config order.
  std::vector<collect::DiscoveredSource> sources() const;
  // Sets pgvigil_sd_targets and logs the set's new problems once each.
  void note_target_set(const collect::TargetSet& set);

 private:
  struct Source {
    std::shared_ptr<collect::SdSource> io;
    std::vector<config::SdEntry> entries;
    std::vector<std::string> errors;  // of the last refresh
    prometheus::Counter* failures = nullptr;
    prometheus::Gauge* last_success = nullptr;
    prometheus::Gauge* targets = nullptr;
  };
  void on_refresh(collect::SdRefresh refresh);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& workers_;
  std::function<void()> changed_;
  prometheus::Family<prometheus::Counter>& failures_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Family<prometheus::Gauge>& targets_;
  std::vector<std::string> order_;  // source names in config order
  std::map<std::string, Source> sources_;
  std::set<std::string> logged_problems_;
};

}  // namespace pgvigil
