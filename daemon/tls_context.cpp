#include "daemon/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/system/system_error.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace pgvigil::http {

namespace ssl = boost::asio::ssl;

namespace {

// The first OpenSSL error queued (and clears the queue), for messages.
std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256] = {};
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// Fails early with the system's reason when a file cannot be opened at all,
// which reads better than OpenSSL's wording for the same problem.
void require_readable(const char* setting, const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    throw std::runtime_error(std::string("[server.tls] ") + setting + " \"" + path +
                             "\": " + std::strerror(errno));
  }
  std::fclose(file);
}

template <class Step>
void load(const char* setting, const std::string& path, Step&& step) {
  require_readable(setting, path);
  try {
    step();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(std::string("[server.tls] ") + setting + " \"" + path +
                             "\": " + e.code().message());
  }
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const config::TlsConfig& tls) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  context->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                       ssl::context::single_dh_use);
  int min_version = 0;
  if (tls.min_version == "TLS1.2") {
    min_version = TLS1_2_VERSION;
  } else if (tls.min_version == "TLS1.3") {
    min_version = TLS1_3_VERSION;
  } else {
    throw std::runtime_error("[server.tls] min_version must be TLS1.2 or TLS1.3");
  }
  if (SSL_CTX_set_min_proto_version(native, min_version) != 1) {
    throw std::runtime_error("[server.tls] cannot set min_version: " + openssl_error());
  }
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An encrypted key must not make OpenSSL prompt on a terminal: it fails.
  context->set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); });

  load("cert_file", tls.cert_file, [&] { context->use_certificate_chain_file(tls.cert_file); });
  load("key_file", tls.key_file,
       [&] { context->use_private_key_file(tls.key_file, ssl::context::pem); });
  if (SSL_CTX_check_private_key(native) != 1) {
    throw std::runtime_error("[server.tls] key_file \"" + tls.key_file +
                             "\" does not match cert_file \"" + tls.cert_file +
                             "\": " + openssl_error());
  }

  if (tls.client_auth == "require_and_verify") {
    load("client_ca_file", tls.client_ca_file,
         [&] { context->load_verify_file(tls.client_ca_file); });
    // Tells clients which CAs are accepted, so they pick the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr) {
      throw std::runtime_error("[server.tls] client_ca_file \"" + tls.client_ca_file +
                               "\": no CA certificate found: " + openssl_error());
    }
    SSL_CTX_set_client_CA_list(native, names);
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else if (tls.client_auth != "none") {
    throw std::runtime_error("[server.tls] client_auth must be none or require_and_verify");
  } else {
    context->set_verify_mode(ssl::verify_none);
  }
  // Session resumption with client certificates needs a context id.
  static constexpr unsigned char kSessionContext[] = "pgvigil";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  ERR_clear_error();
  return context;
}

TlsContextSource::TlsContextSource(config::TlsConfig tls, std::chrono::milliseconds check_interval)
    : tls_(std::move(tls)), check_interval_(check_interval) {
  stamps_ = stamp_files();
  context_ = make_tls_context(tls_);
  last_check_ = Clock::now();
}

std::vector<TlsContextSource::FileStamp> TlsContextSource::stamp_files() const {
  std::vector<std::string> paths{tls_.cert_file, tls_.key_file};
  if (tls_.client_auth == "require_and_verify") paths.push_back(tls_.client_ca_file);
  std::vector<FileStamp> stamps;
  for (const auto& path : paths) {
    FileStamp stamp;
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
      stamp.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                       static_cast<std::int64_t>(info.st_mtim.tv_nsec);
      stamp.inode = static_cast<std::uint64_t>(info.st_ino);
      stamp.size = static_cast<std::int64_t>(info.st_size);
    }
    stamps.push_back(stamp);
  }
  return stamps;
}

std::shared_ptr<ssl::context> TlsContextSource::current(Clock::time_point now) {
  if (now - last_check_ < check_interval_) return context_;
  last_check_ = now;
  auto stamps = stamp_files();
  if (stamps == stamps_ || stamps == failed_stamps_) return context_;
  try {
    context_ = make_tls_context(tls_);
    stamps_ = std::move(stamps);
    failed_stamps_.clear();
    ++reloads_;
    spdlog::info("tls: certificate files changed; new connections use the re-read files");
  } catch (const std::exception& e) {
    failed_stamps_ = std::move(stamps);
    spdlog::warn(
        "tls: certificate files changed but cannot be used ({}); still serving the "
        "previous certificate",
        e.what());
  }
  return context_;
}

}  // namespace pgvigil::http
