#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/activity.hpp"

using namespace pgvigil;

TEST_CASE("activity: recorded SQL is the probe's SQL for PostgreSQL 15") {
  auto server = recorded::server();
  config::TargetConfig target;
  target.expected_databases = {"appdb", "missingdb"};
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "appdb"};
  auto probe = make_activity_probe();
  recorded::record_or_compare("activity", probe->queries(ctx));
}
