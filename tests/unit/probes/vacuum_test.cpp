#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/vacuum.hpp"

using namespace pgvigil;

TEST_CASE("vacuum: recorded SQL is the probe's SQL for PostgreSQL 15") {
  auto server = recorded::server();
  config::TargetConfig target;
  target.expected_databases = {"appdb", "missingdb"};
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "appdb"};
  auto probe = make_vacuum_probe();
  recorded::record_or_compare("vacuum", probe->queries(ctx));
}
