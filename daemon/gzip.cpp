#include "daemon/gzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <stdexcept>

#include "config/text.hpp"

namespace pgvigil::http {
namespace {

// deflate state that is released on every path, including exceptions.
class Deflater {
 public:
  explicit Deflater(int level = Z_DEFAULT_COMPRESSION) {
    // windowBits 15 + 16 asks zlib for the gzip wrapper instead of zlib's own.
    constexpr int kGzipWindowBits = 15 + 16;
    constexpr int kMemLevel = 8;
    if (deflateInit2(&stream_, level, Z_DEFLATED, kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      throw std::runtime_error("gzip: deflateInit2 failed");
    }
  }
  ~Deflater() { deflateEnd(&stream_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  z_stream& stream() { return stream_; }

 private:
  z_stream stream_{};
};

std::string_view trim(std::string_view text) {
  return config::trim(text, " \t");  // HTTP's optional whitespace
}

using config::iequals;

// RFC 9110 qvalue: "0" ["." up to 3 digits] or "1" ["." up to 3 zeros].
// Returns whether the weight is non-zero, or nullopt when malformed.
std::optional<bool> parse_qvalue_nonzero(std::string_view q) {
  if (q.empty() || (q[0] != '0' && q[0] != '1')) return std::nullopt;
  if (q.size() == 1) return q[0] == '1';
  if (q[1] != '.' || q.size() > 5) return std::nullopt;
  const auto decimals = q.substr(2);
  bool any_nonzero_decimal = false;
  for (char c : decimals) {
    if (c < '0' || c > '9') return std::nullopt;
    if (c != '0') any_nonzero_decimal = true;
  }
  if (q[0] == '1') {
    if (any_nonzero_decimal) return std::nullopt;  // above 1.000
    return true;
  }
  return any_nonzero_decimal;
}

std::string deflate_all(z_stream& zs, std::string_view data);

}  // namespace

struct GzipCompressor::State {
  explicit State(int level) : deflater(level) {}
  Deflater deflater;
};

GzipCompressor::GzipCompressor(int level) : state_(std::make_unique<State>(level)) {}
GzipCompressor::~GzipCompressor() = default;

std::string GzipCompressor::compress(std::string_view data) {
  z_stream& zs = state_->deflater.stream();
  if (deflateReset(&zs) != Z_OK) throw std::runtime_error("gzip: deflateReset failed");
  return deflate_all(zs, data);
}

std::string gzip_compress(std::string_view data) {
  Deflater deflater;
  return deflate_all(deflater.stream(), data);
}

namespace {

std::string deflate_all(z_stream& zs, std::string_view data) {
  // A small body gets room for its worst case at once; a large one (a
  // fleet's tens of MB of text compress ~10x) starts at a quarter and grows,
  // so the buffer kept with the cached body is not the size of the input.
  constexpr std::size_t kWorstCaseUpTo = 256 * 1024;
  const auto bound = static_cast<std::size_t>(
                         deflateBound(&zs, static_cast<uLong>(std::min<std::size_t>(
                                               data.size(), std::numeric_limits<uLong>::max())))) +
                     64;
  std::string out;
  out.resize(data.size() <= kWorstCaseUpTo ? bound : std::min(bound, data.size() / 4));
  std::size_t produced = 0;
  std::size_t consumed = 0;
  // zlib counts in uInt, so very large inputs are fed in slices.
  constexpr std::size_t kMaxSlice = std::numeric_limits<uInt>::max();
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    if (zs.avail_in == 0 && consumed < data.size()) {
      const std::size_t slice = std::min(kMaxSlice, data.size() - consumed);
      // zlib's API is not const-correct; deflate never writes through next_in.
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + consumed));
      zs.avail_in = static_cast<uInt>(slice);
      consumed += slice;
    }
    if (produced == out.size()) out.resize(out.size() * 2);
    const std::size_t room = std::min(kMaxSlice, out.size() - produced);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(room);
    const int flush = consumed == data.size() ? Z_FINISH : Z_NO_FLUSH;
    status = deflate(&zs, flush);
    if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) {
      throw std::runtime_error("gzip: deflate failed");
    }
    produced += room - zs.avail_out;
  }
  out.resize(produced);
  if (out.capacity() > 2 * out.size() + 4096) out.shrink_to_fit();
  return out;
}

}  // namespace

bool accepts_gzip(std::string_view accept_encoding) {
  std::optional<bool> gzip_allowed;      // set when gzip/x-gzip is listed
  std::optional<bool> wildcard_allowed;  // set when "*" is listed
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view element = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);

    const auto semicolon = element.find(';');
    const std::string_view coding = trim(element.substr(0, semicolon));
    if (coding.empty()) continue;

    std::optional<bool> weight_nonzero = true;
    std::string_view params =
        semicolon == std::string_view::npos ? std::string_view{} : element.substr(semicolon + 1);
    while (!params.empty()) {
      const auto next = params.find(';');
      const std::string_view param = trim(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
      const auto equals = param.find('=');
      if (equals == std::string_view::npos) continue;
      if (iequals(trim(param.substr(0, equals)), "q")) {
        weight_nonzero = parse_qvalue_nonzero(trim(param.substr(equals + 1)));
      }
    }
    // A malformed weight is read as "not acceptable": never send what the
    // client may not understand.
    const bool allowed = weight_nonzero.value_or(false);
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) {
      // If both gzip and x-gzip appear, either one allowing it is enough.
      gzip_allowed = gzip_allowed.value_or(false) || allowed;
    } else if (coding == "*") {
      wildcard_allowed = allowed;
    }
  }
  if (gzip_allowed) return *gzip_allowed;
  return wildcard_allowed.value_or(false);
}

}  // namespace pgvigil::http
