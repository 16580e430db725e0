#include "daemon/gzip.hpp"

#include <doctest/doctest.h>
#include <zlib.h>

#include <stdexcept>
#include <string>

namespace {

// Independent inflate with zlib's gzip-only window, so a zlib-wrapped or raw
// deflate stream would fail here.
std::string gunzip(const std::string& compressed) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char chunk[4096];
  int status = Z_OK;
  for (int round = 0; round < 100000 && status != Z_STREAM_END; ++round) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    status = inflate(&zs, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) break;
    out.append(chunk, sizeof(chunk) - zs.avail_out);
  }
  inflateEnd(&zs);
  if (status != Z_STREAM_END) throw std::runtime_error("not a complete gzip stream");
  return out;
}

}  // namespace

TEST_CASE("gzip_compress round-trips through zlib inflate") {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "pg_up{target=\"db" + std::to_string(i % 7) + "\"} 1\n";
  const std::string compressed = pgvigil::http::gzip_compress(text);
  CHECK(compressed.size() < text.size() / 4);
  REQUIRE(compressed.size() > 2);
  CHECK(static_cast<unsigned char>(compressed[0]) == 0x1f);  // gzip magic
  CHECK(static_cast<unsigned char>(compressed[1]) == 0x8b);
  CHECK(gunzip(compressed) == text);
}

TEST_CASE("gzip_compress handles empty and incompressible input") {
  CHECK(gunzip(pgvigil::http::gzip_compress("")).empty());

  std::string noise;
  unsigned state = 12345;
  for (int i = 0; i < 100000; ++i) {
    state = state * 1103515245u + 12345u;
    noise.push_back(static_cast<char>(state >> 16));
  }
  CHECK(gunzip(pgvigil::http::gzip_compress(noise)) == noise);
}

TEST_CASE("accepts_gzip follows Accept-Encoding") {
  using pgvigil::http::accepts_gzip;
  CHECK(accepts_gzip("gzip"));
  CHECK(accepts_gzip("GZip"));
  CHECK(accepts_gzip("x-gzip"));
  CHECK(accepts_gzip("deflate, gzip;q=1.0, br"));
  CHECK(accepts_gzip(" br ; q=0.9 ,gzip ; q=0.5"));
  CHECK(accepts_gzip("gzip;q=0.001"));
  CHECK(accepts_gzip("*"));
  CHECK(accepts_gzip("identity, *;q=0.1"));

  CHECK_FALSE(accepts_gzip(""));
  CHECK_FALSE(accepts_gzip("identity"));
  CHECK_FALSE(accepts_gzip("deflate, br"));
  CHECK_FALSE(accepts_gzip("gzip;q=0"));
  CHECK_FALSE(accepts_gzip("gzip;Q=0.000"));
  CHECK_FALSE(accepts_gzip("gzip; q=0.0, deflate"));
  CHECK_FALSE(accepts_gzip("*;q=0"));
  // An explicit gzip entry wins over the wildcard, both ways.
  CHECK_FALSE(accepts_gzip("gzip;q=0, *"));
  CHECK(accepts_gzip("gzip, *;q=0"));
  // Malformed weights are not read as consent.
  CHECK_FALSE(accepts_gzip("gzip;q=abc"));
  CHECK_FALSE(accepts_gzip("gzip;q=1.5"));
  CHECK_FALSE(accepts_gzip("gzip;q=2"));
  CHECK_FALSE(accepts_gzip("gzipped"));
}
