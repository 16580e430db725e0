#pragma once
// The body of every response pgvigil writes: text it owns, or a buffer a
// cache keeps (the /metrics body and its gzip), shared instead of copied, so
// a scrape of a large fleet does not copy megabytes per request. A Beast body
// type for writing only: requests use string_body.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace pgvigil::http {

class ResponseText {
 public:
  // A shared buffer that is still being produced (the /metrics gzip, which
  // compresses on a worker thread): the connection calls the producer with a
  // delivery and sends the response when the buffer arrives, on the loop. A
  // null buffer means the producer failed.
  using Delivery = std::function<void(std::shared_ptr<const std::string>)>;
  using Producer = std::function<void(Delivery)>;

  ResponseText() = default;
  ResponseText(std::string text) : own_(std::move(text)) {}  // NOLINT: a string is a body
  ResponseText& operator=(std::string text) {
    own_ = std::move(text);
    shared_.reset();
    return *this;
  }
  ResponseText& operator=(const char* text) { return *this = std::string(text); }
  // Serves `buffer` without copying it; it stays alive as long as this does.
  void share(std::shared_ptr<const std::string> buffer) {
    own_.clear();
    shared_ = std::move(buffer);
    producer_ = nullptr;
  }
  // The body is what `producer` will deliver; until then it is empty.
  void defer(Producer producer) {
    clear();
    producer_ = std::move(producer);
  }
  bool is_deferred() const noexcept { return static_cast<bool>(producer_); }
  Producer take_producer() noexcept { return std::exchange(producer_, nullptr); }

  std::string_view view() const noexcept { return shared_ ? std::string_view(*shared_) : own_; }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: reads like a string
  const char* data() const noexcept { return view().data(); }
  std::size_t size() const noexcept { return view().size(); }
  bool empty() const noexcept { return view().empty(); }
  std::size_t find(std::string_view what, std::size_t from = 0) const noexcept {
    return view().find(what, from);
  }
  void clear() noexcept {
    own_.clear();
    shared_.reset();
    producer_ = nullptr;
  }
  bool is_shared() const noexcept { return shared_ != nullptr; }

  friend bool operator==(const ResponseText& a, std::string_view b) noexcept {
    return a.view() == b;
  }

 private:
  std::string own_;
  std::shared_ptr<const std::string> shared_;
  Producer producer_;
};

struct ResponseTextBody {
  using value_type = ResponseText;

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(const boost::beast::http::header<isRequest, Fields>&, const value_type& body)
        : body_(body) {}

    void init(boost::beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      ec = {};
      if (sent_) return boost::none;
      sent_ = true;
      return std::make_pair(const_buffers_type(body_.data(), body_.size()), false);
    }

   private:
    const value_type& body_;
    bool sent_ = false;
  };
};

}  // namespace pgvigil::http
