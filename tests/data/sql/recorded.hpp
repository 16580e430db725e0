#pragma once
// Recorded SQL results for the SQL probe unit tests. Each probe's statements
// live in tests/data/sql/<probe>/<query name>.sql exactly as queries() built
// them for PostgreSQL 15; capture.sh ran them on a real server and saved the
// reply beside them as <name>.csv (psql --csv, NULL written as \N) or, when the
// server refused, <name>.err ("SQLSTATE<tab>message"). A recording from another
// major lives one level down, in tests/data/sql/<probe>/pg<major>/ (written by
// record-version.sh); every function here takes that major, 15 by default.
//
// PGVIGIL_RECORD_SQL=1 makes record_or_compare() rewrite the .sql files from
// the probes' current queries() (then run capture.sh); otherwise it checks the
// recorded .sql still equals what the probe sends, so a changed query without
// a new capture fails the tests.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "probes/probe.hpp"
#include "probes/query_result.hpp"

namespace pgvigil::recorded {

inline std::filesystem::path directory() {
  return std::filesystem::path(PGVIGIL_TEST_DATA) / "sql";
}

inline std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// RFC 4180 as psql writes it: quoted fields may hold commas, quotes ("") and
// newlines; an unquoted \N is NULL.
inline std::vector<std::vector<std::optional<std::string>>> parse_csv(std::string_view text) {
  std::vector<std::vector<std::optional<std::string>>> records;
  std::vector<std::optional<std::string>> record;
  std::string field;
  bool quoted = false;
  bool was_quoted = false;
  auto end_field = [&] {
    if (!was_quoted && field == "\\N")
      record.emplace_back(std::nullopt);
    else
      record.emplace_back(field);
    field.clear();
    was_quoted = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n') {
      end_field();
      records.push_back(std::move(record));
      record.clear();
    } else if (c != '\r') {
      field.push_back(c);
    }
  }
  if (!field.empty() || was_quoted || !record.empty()) {
    end_field();
    records.push_back(std::move(record));
  }
  return records;
}

inline constexpr int kDefaultMajor = 15;

// Where the recordings of one probe for one major live.
inline std::filesystem::path probe_directory(std::string_view probe, int major = kDefaultMajor) {
  auto dir = directory() / probe;
  if (major != kDefaultMajor) dir /= "pg" + std::to_string(major);
  return dir;
}

// The recorded reply to <probe>/[pg<major>/]<name>.sql.
inline QueryResult load(std::string_view probe, std::string_view name, int major = kDefaultMajor) {
  const auto base = probe_directory(probe, major) / name;
  if (auto csv = read_text(base.string() + ".csv")) {
    auto records = parse_csv(*csv);
    REQUIRE_MESSAGE(!records.empty(), "empty fixture " << base.string() << ".csv");
    std::vector<std::string> columns;
    for (auto& cell : records.front()) columns.push_back(cell.value_or(""));
    records.erase(records.begin());
    return QueryResult::from_rows(std::move(columns), std::move(records));
  }
  if (auto err = read_text(base.string() + ".err")) {
    const auto tab = err->find('\t');
    REQUIRE_MESSAGE(tab != std::string::npos, "malformed " << base.string() << ".err");
    std::string message = err->substr(tab + 1);
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
      message.pop_back();
    return QueryResult::failure(err->substr(0, tab), message);
  }
  FAIL("no recorded result for " << base.string());
  return {};
}

// Recorded replies for every statement of a probe, in queries() order.
inline std::vector<QueryResult> load_all(std::string_view probe, const std::vector<Query>& queries,
                                         int major = kDefaultMajor) {
  std::vector<QueryResult> results;
  for (const auto& query : queries) results.push_back(load(probe, query.name, major));
  return results;
}

inline void record_or_compare(std::string_view probe, const std::vector<Query>& queries,
                              int major = kDefaultMajor) {
  const auto dir = probe_directory(probe, major);
  const bool record = std::getenv("PGVIGIL_RECORD_SQL") != nullptr;
  if (record) std::filesystem::create_directories(dir);
  for (const auto& query : queries) {
    const auto path = dir / (query.name + ".sql");
    if (record) {
      std::ofstream(path, std::ios::binary) << query.sql << "\n";
      continue;
    }
    auto recorded = read_text(path);
    REQUIRE_MESSAGE(recorded.has_value(), "missing " << path.string());
    CHECK_MESSAGE(*recorded == query.sql + "\n",
                  path.string() << " differs from the probe's SQL: re-record and re-capture");
  }
}

// The server_version_num of the server each major's recordings came from:
// Debian's 15.18 and the pinned builds of scripts/install-postgres-versions.
inline int recorded_version_num(int major) {
  switch (major) {
    case 13:
      return 130023;
    case 14:
      return 140023;
    case 16:
      return 160014;
    case 17:
      return 170010;
    case 18:
      return 180004;
    default:
      return 150018;
  }
}

// A server as the recordings saw it: PostgreSQL 15 (or the given version)
// with pg_stat_statements.
inline ServerInfo server(int version_num = 150018) {
  ServerInfo info;
  info.version_num = version_num;
  info.version = std::to_string(version_num / 10000) + "." + std::to_string(version_num % 10000);
  info.current_database = "postgres";
  info.current_user = "monitor";
  info.has_pg_stat_statements = true;
  return info;
}

// The server a recording of that major came from (server_for_major(15) ==
// server()).
inline ServerInfo server_for_major(int major) {
  return server(recorded_version_num(major));
}

}  // namespace pgvigil::recorded
