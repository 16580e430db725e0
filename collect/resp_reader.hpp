#pragma once
// RESP (the Redis protocol) from bytes: hiredis' redisReader does the
// parsing (Debian libhiredis-dev 0.14), this turns its replies into plain
// values and puts a bound on what a server may make us buffer. No I/O here:
// the session (collect/redis_session.*) feeds what its socket read, and the
// fuzzer (tests/fuzz/resp_fuzzer.cpp) feeds anything.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace pgvigil::redis {

struct Reply {
  enum class Type { string, status, error, integer, nil, array };
  Type type = Type::nil;
  std::string text;  // string, status and error replies
  long long integer = 0;
  std::vector<Reply> elements;  // array replies

  // The text of a bulk or simple string; empty for anything else.
  bool is_text() const noexcept { return type == Type::string || type == Type::status; }
};

// RESP for a command: an array of bulk strings (any bytes, passwords too).
std::string encode_command(std::initializer_list<std::string_view> args);

class RespReader {
 public:
  // Replies larger than this (INFO all is ~15 KB) are a protocol error, not
  // an allocation a misbehaving server chooses for us.
  static constexpr std::size_t kDefaultLimit = 4 * 1024 * 1024;

  explicit RespReader(std::size_t limit = kDefaultLimit);
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  enum class Status { reply, incomplete, error };
  // Buffers bytes; Status::error (and error()) when they break the protocol
  // or the limit.
  Status feed(std::string_view bytes);
  // The next complete reply, if there is one.
  Status next(Reply& out);
  const std::string& error() const noexcept { return error_; }

 private:
  redisReader* reader_ = nullptr;
  std::size_t limit_;
  std::size_t buffered_ = 0;  // fed since the last complete reply
  std::string error_;
};

}  // namespace pgvigil::redis
