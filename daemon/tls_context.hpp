#pragma once
// The OpenSSL server context for [server.tls], and its renewal: certificate,
// key and client CA files are watched with stat() (cheap, at most once per
// check interval, on the accepting path) and a new context is built when any
// of them changed, so a renewed certificate is served without a restart.
// Connections keep the context they started with.
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pgvigil::http {

// Builds a server context: certificate chain and key (which must match),
// the minimum protocol version, and for client_auth = "require_and_verify"
// peer verification against client_ca_file. Throws std::runtime_error naming
// the file or setting that failed.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const config::TlsConfig& tls);

class TlsContextSource {
 public:
  using Clock = std::chrono::steady_clock;

  // Builds the first context now; throws std::runtime_error if it cannot.
  explicit TlsContextSource(config::TlsConfig tls,
                            std::chrono::milliseconds check_interval = std::chrono::seconds(1));

  // The context for a new connection. When check_interval has passed since the
  // last look, the files are stat()ed; if one changed, the context is rebuilt.
  // A failed rebuild (say, the key renewed before the certificate) keeps the
  // previous context, is logged once, and is retried at the next change.
  std::shared_ptr<boost::asio::ssl::context> current(Clock::time_point now = Clock::now());

  const config::TlsConfig& config() const noexcept { return tls_; }
  std::uint64_t reloads() const noexcept { return reloads_; }

 private:
  struct FileStamp {
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    std::int64_t size = -1;  // -1: could not stat
    bool operator==(const FileStamp&) const = default;
  };
  std::vector<FileStamp> stamp_files() const;

  config::TlsConfig tls_;
  std::chrono::milliseconds check_interval_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::vector<FileStamp> stamps_;         // of the files context_ was built from
  std::vector<FileStamp> failed_stamps_;  // of the last failed rebuild, to log it once
  Clock::time_point last_check_{};
  std::uint64_t reloads_ = 0;
};

}  // namespace pgvigil::http
