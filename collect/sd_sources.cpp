#include "collect/sd_sources.hpp"

#include "collect/patroni_dcs.hpp"

#include <glob.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace pgvigil::collect {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A discovery file is a list of addresses; refuse anything absurd.
constexpr std::uintmax_t kMaxFileBytes = 16 * 1024 * 1024;

std::string absolute(const std::string& base, const std::string& path) {
  if (path.empty() || path.front() == '/' || base.empty()) return path;
  return base + "/" + path;
}

std::string directory_of(const std::string& pattern) {
  const auto slash = pattern.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : pattern.substr(0, slash);
}

// Blocking: runs on the worker pool.
std::vector<std::string> glob_files(const std::string& pattern, std::vector<std::string>& errors) {
  std::vector<std::string> out;
  glob_t found{};
  const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &found);
  if (rc == 0) {
    for (std::size_t i = 0; i < found.gl_pathc; ++i) out.emplace_back(found.gl_pathv[i]);
  } else if (rc != GLOB_NOMATCH) {
    errors.push_back(pattern + ": cannot list the directory");
  }
  ::globfree(&found);
  return out;
}

bool read_file(const std::string& path, std::string& text, std::string& error) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(info.st_mode)) {
    error = path + ": not a regular file";
    return false;
  }
  if (static_cast<std::uintmax_t>(info.st_size) > kMaxFileBytes) {
    error = path + ": larger than 16MiB";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  text = std::move(buffer).str();
  return true;
}

}  // namespace

FileSdSource::FileSdSource(asio::io_context& io, asio::thread_pool& workers,
                           config::FileSdConfig config, std::string base_directory,
                           std::vector<config::SdEntry> last_good, Report report)
    : io_(io),
      workers_(workers),
      config_(std::move(config)),
      base_directory_(std::move(base_directory)),
      report_(std::move(report)),
      inotify_(io),
      event_buffer_(64 * 1024),
      debounce_(io),
      interval_(io),
      seed_(std::move(last_good)) {}

FileSdSource::~FileSdSource() {
  stop();
}

void FileSdSource::start() {
  watch_directories();
  schedule_refresh(0ms);
}

void FileSdSource::stop() {
  stopped_ = true;
  debounce_.cancel();
  interval_.cancel();
  boost::system::error_code ignored;
  inotify_.close(ignored);
}

void FileSdSource::watch_directories() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return;  // the refresh interval still applies
  inotify_.assign(fd);
  std::set<std::string> directories;
  for (const auto& pattern : config_.files)
    directories.insert(directory_of(absolute(base_directory_, pattern)));
  // Kubernetes swaps a ConfigMap's files through a renamed symlink, hence
  // the moves and creations besides writes.
  constexpr std::uint32_t kMask =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF;
  for (const auto& directory : directories) (void)::inotify_add_watch(fd, directory.c_str(), kMask);
  read_events();
}

void FileSdSource::read_events() {
  inotify_.async_read_some(asio::buffer(event_buffer_),
                           [weak = weak_from_this()](boost::system::error_code ec, std::size_t) {
                             auto self = weak.lock();
                             if (!self || ec || self->stopped_) return;
                             // Which file changed does not matter: every glob is re-read.
                             self->schedule_refresh(200ms);
                             self->read_events();
                           });
}

void FileSdSource::schedule_refresh(std::chrono::milliseconds delay) {
  if (stopped_) return;
  // Editors and ConfigMap updates come as bursts of events: one read after.
  debounce_.expires_after(delay);
  debounce_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->refresh();
  });
}

void FileSdSource::refresh() {
  if (stopped_) return;
  if (reading_) {
    again_ = true;
    return;
  }
  reading_ = true;
  std::vector<std::string> patterns;
  for (const auto& pattern : config_.files) patterns.push_back(absolute(base_directory_, pattern));
  asio::post(workers_, [weak = weak_from_this(), &io = io_, patterns = std::move(patterns)] {
    std::vector<FileResult> results;
    std::vector<std::string> errors;
    std::set<std::string> seen;
    for (const auto& pattern : patterns) {
      for (auto& path : glob_files(pattern, errors)) {
        config::SdSyntax syntax{};
        if (!config::sd_syntax_for_path(path, syntax) || !seen.insert(path).second) continue;
        FileResult result;
        result.path = path;
        std::string text;
        std::string error;
        result.read_ok = read_file(path, text, error);
        if (result.read_ok)
          result.parsed = config::parse_sd_text(text, syntax, path);
        else
          result.parsed.errors.push_back(error);
        results.push_back(std::move(result));
      }
    }
    asio::post(io, [weak, results = std::move(results), errors = std::move(errors)]() mutable {
      if (auto self = weak.lock()) self->apply(std::move(results), std::move(errors));
    });
  });
}

void FileSdSource::apply(std::vector<FileResult> results, std::vector<std::string> errors) {
  reading_ = false;
  if (stopped_) return;
  std::map<std::string, std::vector<config::SdEntry>> next;
  for (auto& result : results) {
    if (result.parsed.errors.empty()) {
      next[result.path] = std::move(result.parsed.entries);
      continue;
    }
    // A broken file keeps its last good entries (a half-written file must
    // not remove targets); a file that vanished is simply gone.
    for (auto& error : result.parsed.errors) errors.push_back(std::move(error));
    if (auto previous = files_.find(result.path); previous != files_.end())
      next[result.path] = std::move(previous->second);
  }
  const bool first_read = seed_.size() > 0 && files_.empty();
  files_ = std::move(next);
  SdRefresh refresh;
  refresh.source = config_.name;
  for (const auto& [path, entries] : files_)
    refresh.entries.insert(refresh.entries.end(), entries.begin(), entries.end());
  // After a reload, a source whose every file is broken keeps the list it had.
  if (first_read && refresh.entries.empty() && !errors.empty()) refresh.entries = seed_;
  seed_.clear();
  refresh.errors = std::move(errors);
  report_(std::move(refresh));

  if (again_) {
    again_ = false;
    schedule_refresh(0ms);
  }
  interval_.expires_after(config_.refresh_interval);
  interval_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->refresh();
  });
}

HttpSdSource::HttpSdSource(asio::io_context& io, config::HttpSdConfig config,
                           std::vector<config::SdEntry> last_good, Report report)
    : io_(io),
      config_(std::move(config)),
      report_(std::move(report)),
      client_(io),
      timer_(io),
      entries_(std::move(last_good)) {
  authorization_ =
      authorization_from_files(config_.basic_auth_user, config_.basic_auth_password_file,
                               config_.bearer_token_file, &authorization_error_);
}

void HttpSdSource::start() {
  schedule(0ms);
}

void HttpSdSource::stop() {
  stopped_ = true;
  timer_.cancel();
  client_.cancel();
}

void HttpSdSource::schedule(std::chrono::milliseconds delay) {
  if (stopped_) return;
  timer_.expires_after(delay);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->poll();
  });
}

void HttpSdSource::poll() {
  if (stopped_) return;
  std::string url_error;
  const auto url = parse_http_url(config_.url, &url_error);
  SdRefresh failed;
  failed.source = config_.name;
  if (!url) {
    failed.errors.push_back("http_sd " + config_.name + ": " + url_error);
  } else if (!authorization_error_.empty()) {
    failed.errors.push_back("http_sd " + config_.name + ": " + authorization_error_);
  }
  if (!failed.errors.empty()) {
    failed.entries = entries_;
    report_(std::move(failed));
    schedule(config_.refresh_interval);
    return;
  }
  HttpRequest request;
  request.accept = "application/json";
  if (url->path.empty()) request.path = "/";
  request.authorization = authorization_;
  client_.send(*url, std::move(request), config_.timeout, config_.max_bytes,
               [weak = weak_from_this(), display = url->display](HttpResult result) {
                 auto self = weak.lock();
                 if (!self || self->stopped_) return;
                 SdRefresh refresh;
                 refresh.source = self->config_.name;
                 const std::string origin = "http_sd " + self->config_.name;
                 if (!result.ok) {
                   refresh.errors.push_back(origin + " (" + display + "): " + result.error);
                 } else {
                   auto parsed =
                       config::parse_sd_text(result.body, config::SdSyntax::json, display);
                   if (parsed.errors.empty())
                     self->entries_ = std::move(parsed.entries);
                   else
                     for (auto& error : parsed.errors)
                       refresh.errors.push_back(origin + ": " + error);
                 }
                 refresh.entries = self->entries_;
                 self->report_(std::move(refresh));
                 self->schedule(self->config_.refresh_interval);
               });
}

PatroniSdSource::PatroniSdSource(asio::io_context& io, config::PatroniSdConfig config,
                                 std::vector<config::SdEntry> last_good, Report report)
    : config_(std::move(config)),
      report_(std::move(report)),
      client_(io),
      timer_(io),
      entries_(std::move(last_good)) {
  authorization_ = authorization_from_files(
      config_.basic_auth_user, config_.basic_auth_password_file, "", &authorization_error_);
}

void PatroniSdSource::start() {
  poll();
}

void PatroniSdSource::stop() {
  stopped_ = true;
  timer_.cancel();
  client_.cancel();
}

void PatroniSdSource::poll() {
  if (stopped_) return;
  if (!authorization_error_.empty())
    return finish({"patroni_sd " + config_.name + ": " + authorization_error_});
  ask(0, {});
}

// Tries endpoint `index`, then the next ones; `errors` holds the failed ones'.
void PatroniSdSource::ask(std::size_t index, std::vector<std::string> errors) {
  if (stopped_) return;
  if (index >= config_.endpoints.size()) return finish(std::move(errors));
  std::string url_error;
  const auto url = parse_http_url(config_.endpoints[index], &url_error);
  if (!url) {
    errors.push_back("etcd " + url_error);
    return ask(index + 1, std::move(errors));
  }
  HttpRequest request;
  request.method = HttpRequest::Method::post;
  request.path = "/v3/kv/range";
  request.content_type = "application/json";
  request.accept = "application/json";
  request.authorization = authorization_;
  request.body = etcd_prefix_range_request(config_.namespace_path);
  client_.send(*url, std::move(request), config_.timeout, config_.max_bytes,
               [weak = weak_from_this(), index, display = url->display,
                errors = std::move(errors)](HttpResult result) mutable {
                 auto self = weak.lock();
                 if (!self || self->stopped_) return;
                 const std::string origin = "etcd " + display;
                 if (!result.ok) {
                   errors.push_back(origin + ": " + result.error);
                   return self->ask(index + 1, std::move(errors));
                 }
                 auto parsed = parse_patroni_members(result.body, self->config_.namespace_path,
                                                     self->config_.scopes, origin);
                 if (!parsed.errors.empty()) return self->finish(std::move(parsed.errors));
                 self->entries_ = std::move(parsed.entries);
                 self->finish({});  // an endpoint answered: the others' failures do not matter
               });
}

void PatroniSdSource::finish(std::vector<std::string> errors) {
  SdRefresh refresh;
  refresh.source = config_.name;
  refresh.entries = entries_;  // the last good list when this refresh failed
  refresh.errors = std::move(errors);
  report_(std::move(refresh));
  if (stopped_) return;
  timer_.expires_after(config_.refresh_interval);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto self = weak.lock(); self && !ec) self->poll();
  });
}

std::string config_directory(const std::string& config_path) {
  return directory_of(config_path);
}

std::vector<DiscoveredSource> discover_once(const config::Config& config,
                                            std::vector<std::string>& problems) {
  boost::asio::io_context io;
  boost::asio::thread_pool workers(1);
  std::vector<std::shared_ptr<SdSource>> sources;
  std::map<std::string, SdRefresh> first;  // each source's first report
  const auto report = [&](SdRefresh refresh) {
    first.try_emplace(refresh.source, std::move(refresh));
    if (first.size() == sources.size()) io.stop();
  };
  const std::string base = config_directory(config.source_path);
  auto deadline = std::chrono::milliseconds(5000);  // files: glob and read
  for (const auto& sd : config.file_sd)
    sources.push_back(std::make_shared<FileSdSource>(io, workers, sd, base,
                                                     std::vector<config::SdEntry>{}, report));
  for (const auto& sd : config.http_sd) {
    sources.push_back(
        std::make_shared<HttpSdSource>(io, sd, std::vector<config::SdEntry>{}, report));
    deadline = std::max(deadline, sd.timeout + std::chrono::milliseconds(1000));
  }
  for (const auto& sd : config.patroni_sd) {
    sources.push_back(
        std::make_shared<PatroniSdSource>(io, sd, std::vector<config::SdEntry>{}, report));
    deadline = std::max(deadline, sd.timeout * static_cast<long>(sd.endpoints.size()) +
                                      std::chrono::milliseconds(1000));
  }
  for (const auto& source : sources) source->start();
  io.run_for(deadline);
  for (const auto& source : sources) source->stop();
  workers.join();

  std::vector<DiscoveredSource> out;
  for (const auto& source : sources) {
    const auto found = first.find(source->name());
    if (found == first.end()) {
      problems.push_back("source " + source->name() + ": no answer within " +
                         std::to_string(deadline.count() / 1000) + " s");
      out.push_back({source->name(), {}});
      continue;
    }
    for (const auto& error : found->second.errors)
      problems.push_back("source " + source->name() + ": " + error);
    out.push_back({source->name(), found->second.errors.empty() ? std::move(found->second.entries)
                                                                : std::vector<config::SdEntry>{}});
  }
  return out;
}

}  // namespace pgvigil::collect
