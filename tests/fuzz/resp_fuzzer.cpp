// libFuzzer harness: bytes from a Redis server -> RespReader (hiredis'
// reader behind the project's size limit), then every bulk string through
// parse_info and collect_info, every error through classify_error_reply,
// the samples as exposition text.
//
// Input: the first byte picks where the rest is cut in two (0: before it,
// 255: after it), as two socket
// reads would deliver it; the rest is what the server sent. The same bytes
// fed in one piece must give the same replies (the session reads whatever
// the socket hands it, so the cut must not matter). A third reader with a
// small limit covers the "reply too large" path.
#include <prometheus/text_serializer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collect/resp_reader.hpp"
#include "probes/redis_info.hpp"

namespace {

using pgvigil::redis::Reply;
using pgvigil::redis::RespReader;

struct Outcome {
  std::vector<Reply> replies;
  bool failed = false;
};

// Feeds `chunks` one after the other, taking every complete reply after
// each, as RedisSession::start_reading does.
Outcome read_all(RespReader& reader, const std::vector<std::string_view>& chunks) {
  Outcome out;
  for (auto chunk : chunks) {
    if (reader.feed(chunk) == RespReader::Status::error) {
      out.failed = true;
      return out;
    }
    // Bounded: every reply consumes at least one byte of the input.
    for (std::size_t i = 0; i <= chunk.size(); ++i) {
      Reply reply;
      const auto status = reader.next(reply);
      if (status == RespReader::Status::incomplete) break;
      if (status == RespReader::Status::error) {
        out.failed = true;
        return out;
      }
      out.replies.push_back(std::move(reply));
    }
  }
  return out;
}

bool same(const Reply& a, const Reply& b) {
  if (a.type != b.type || a.text != b.text || a.integer != b.integer ||
      a.elements.size() != b.elements.size())
    return false;
  for (std::size_t i = 0; i < a.elements.size(); ++i)
    if (!same(a.elements[i], b.elements[i])) return false;
  return true;
}

std::optional<double> number_of(const Reply& reply) {
  // CONFIG GET name -> [name, value], as the session reads it.
  if (reply.type != Reply::Type::array || reply.elements.size() != 2 ||
      !reply.elements[1].is_text())
    return std::nullopt;
  const std::string& text = reply.elements[1].text;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

void use(const std::vector<Reply>& replies) {
  pgvigil::redis::ConfigValues config;
  for (const auto& reply : replies) {
    if (auto value = number_of(reply))
      (config.maxmemory ? config.maxclients : config.maxmemory) = value;
  }
  for (const auto& reply : replies) {
    if (reply.type == Reply::Type::error) {
      (void)pgvigil::redis::to_string(pgvigil::redis::classify_error_reply(reply.text));
      continue;
    }
    if (reply.type != Reply::Type::string) continue;
    const auto parsed = pgvigil::redis::parse_info(reply.text);
    if (!parsed.info) {
      if (parsed.error.empty()) std::abort();  // a failure always says why
      continue;
    }
    pgvigil::SampleSink sink;
    pgvigil::redis::collect_info(*parsed.info, config, sink);
    (void)prometheus::TextSerializer().Serialize(sink.take());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t cut = bytes.size() * data[0] / 255;

  RespReader split_reader;
  const auto split = read_all(split_reader, {bytes.substr(0, cut), bytes.substr(cut)});
  RespReader whole_reader;
  const auto whole = read_all(whole_reader, {bytes});
  // Inputs stay far below the default limit, so only the protocol decides.
  if (split.failed != whole.failed || split.replies.size() != whole.replies.size()) std::abort();
  for (std::size_t i = 0; i < split.replies.size(); ++i)
    if (!same(split.replies[i], whole.replies[i])) std::abort();
  if (split.failed && split_reader.error().empty()) std::abort();

  RespReader small(64);
  (void)read_all(small, {bytes.substr(0, cut), bytes.substr(cut)});

  use(whole.replies);
  return 0;
}
