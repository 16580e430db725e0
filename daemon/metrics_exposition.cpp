#include "daemon/metrics_exposition.hpp"

namespace pgvigil {

std::shared_ptr<const std::string> MetricsExposition::plain(std::uint64_t version) {
  if (plain_ && plain_version_ == version) return plain_;
  std::shared_ptr<std::string> body;
  if (plain_ && plain_.use_count() == 1) {
    body = std::move(plain_);
    body->clear();  // keeps the capacity
  } else {
    body = std::make_shared<std::string>();
    // The last body's size is a good guess for the next one.
    if (plain_) body->reserve(plain_->size() + plain_->size() / 8);
  }
  build_(*body);
  plain_ = std::move(body);
  plain_version_ = version;
  ++builds_;
  return plain_;
}

std::shared_ptr<const std::string> MetricsExposition::gzipped(std::uint64_t version) {
  auto body = plain(version);
  if (gzipped_ && gzipped_version_ == version) return gzipped_;
  gzipped_ = std::make_shared<const std::string>(compressor_.compress(*body));
  gzipped_version_ = version;
  ++compressions_;
  return gzipped_;
}

}  // namespace pgvigil
