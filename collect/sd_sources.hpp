#pragma once
// The discovery sources' I/O: file_sd files watched with inotify (read on the
// worker pool, never on the loop) and http_sd endpoints polled through the
// one HTTP client. Each refresh reports the source's last good entry list
// and the problems of this refresh; parsing is config/sd_format's.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collect/http_client.hpp"
#include "collect/target_set.hpp"
#include "config/config.hpp"
#include "config/sd_format.hpp"

namespace pgvigil::collect {

struct SdRefresh {
  std::string source;
  std::vector<config::SdEntry> entries;  // the last good list (kept through failures)
  std::vector<std::string> errors;       // this refresh's problems; empty: it succeeded
};

class SdSource {
 public:
  using Report = std::function<void(SdRefresh)>;
  virtual ~SdSource() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
  virtual const std::string& name() const noexcept = 0;
};

// Globs are matched in the config file's directory when relative. The
// directory part of each glob is watched (a change there is applied within
// ~0.2 s); refresh_interval re-reads everything regardless, which also
// covers directories that do not exist yet.
class FileSdSource final : public SdSource, public std::enable_shared_from_this<FileSdSource> {
 public:
  FileSdSource(boost::asio::io_context& io, boost::asio::thread_pool& workers,
               config::FileSdConfig config, std::string base_directory,
               std::vector<config::SdEntry> last_good, Report report);
  ~FileSdSource() override;
  void start() override;
  void stop() override;
  const std::string& name() const noexcept override { return config_.name; }

 private:
  struct FileResult {
    std::string path;
    bool read_ok = false;
    config::SdParseResult parsed;
  };
  void watch_directories();
  void read_events();
  void schedule_refresh(std::chrono::milliseconds delay);
  void refresh();
  void apply(std::vector<FileResult> results, std::vector<std::string> errors);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& workers_;
  config::FileSdConfig config_;
  std::string base_directory_;
  Report report_;
  boost::asio::posix::stream_descriptor inotify_;
  std::vector<char> event_buffer_;
  boost::asio::steady_timer debounce_;
  boost::asio::steady_timer interval_;
  std::map<std::string, std::vector<config::SdEntry>> files_;  // path -> last good entries
  std::vector<config::SdEntry> seed_;  // the previous config's list, until the first read
  bool reading_ = false;
  bool again_ = false;
  bool stopped_ = false;
};

class HttpSdSource final : public SdSource, public std::enable_shared_from_this<HttpSdSource> {
 public:
  HttpSdSource(boost::asio::io_context& io, config::HttpSdConfig config,
               std::vector<config::SdEntry> last_good, Report report);
  void start() override;
  void stop() override;
  const std::string& name() const noexcept override { return config_.name; }

 private:
  void poll();
  void schedule(std::chrono::milliseconds delay);

  boost::asio::io_context& io_;
  config::HttpSdConfig config_;
  Report report_;
  HttpClient client_;
  boost::asio::steady_timer timer_;
  std::string authorization_;  // a secret
  std::string authorization_error_;
  std::vector<config::SdEntry> entries_;
  bool stopped_ = false;
};

// Patroni's etcd: one prefix range over the namespace per refresh, through
// etcd's v3 JSON gateway (POST /v3/kv/range), the endpoints tried in order
// until one answers. Parsing is collect/patroni_dcs'.
class PatroniSdSource final : public SdSource,
                              public std::enable_shared_from_this<PatroniSdSource> {
 public:
  PatroniSdSource(boost::asio::io_context& io, config::PatroniSdConfig config,
                  std::vector<config::SdEntry> last_good, Report report);
  void start() override;
  void stop() override;
  const std::string& name() const noexcept override { return config_.name; }

 private:
  void poll();
  void ask(std::size_t endpoint, std::vector<std::string> errors);
  void finish(std::vector<std::string> errors);

  config::PatroniSdConfig config_;
  Report report_;
  HttpClient client_;
  boost::asio::steady_timer timer_;
  std::string authorization_;  // a secret
  std::string authorization_error_;
  std::vector<config::SdEntry> entries_;
  bool stopped_ = false;
};

// The directory relative file_sd globs start from: the config file's.
std::string config_directory(const std::string& config_path);

// Every source of `config` read once, for `pgvigil check-config`: runs its
// own event loop until each source reported or its deadline passed. A
// source that failed or did not answer is in `problems` and has no entries.
std::vector<DiscoveredSource> discover_once(const config::Config& config,
                                            std::vector<std::string>& problems);

}  // namespace pgvigil::collect
