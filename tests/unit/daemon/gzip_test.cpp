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

TEST_CASE("a large body compresses into a buffer sized by its output") {
  // Past the small-body case the output buffer starts at a quarter of the
  // input: a compressible body does not keep an input-sized buffer, and an
  // incompressible one grows the buffer and still round-trips.
  std::string text;
  for (int i = 0; text.size() < 4'000'000; ++i)
    text += "pg_stat_activity_count{target=\"t" + std::to_string(i % 1000) + "\",state=\"idle\"} " +
            std::to_string(i % 13) + "\n";
  pgvigil::http::GzipCompressor compressor(1);
  const std::string compressed = compressor.compress(text);
  CHECK(compressed.size() < text.size() / 8);
  CHECK(compressed.capacity() <= 2 * compressed.size() + 4096);
  CHECK(gunzip(compressed) == text);

  std::string noise;
  unsigned state = 777;
  for (int i = 0; i < 1'000'000; ++i) {
    state = state * 1103515245u + 12345u;
    noise.push_back(static_cast<char>(state >> 16));
  }
  const std::string grown = compressor.compress(noise);
  CHECK(grown.size() > noise.size() / 2);
  CHECK(gunzip(grown) == noise);
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
