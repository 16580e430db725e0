#include <doctest/doctest.h>

#include "data/sql/recorded.hpp"
#include "probes/checks.hpp"

using namespace pgvigil;

namespace {

config::CheckConfig idle_check() {
  config::CheckConfig check;
  check.name = "idle_in_tx";
  check.sql = "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction';";
  check.timeout = config::Duration{2'000};
  check.comparison = config::Comparison::less;
  check.threshold = 1;
  check.expect = "< 1";
  return check;
}

config::CheckConfig slow_check() {
  config::CheckConfig check;
  check.name = "slow";
  check.sql = "SELECT 1 FROM pg_sleep(5)";
  check.timeout = config::Duration{200};
  check.expect = "> 0";
  return check;
}

config::CheckConfig secret_check() {
  config::CheckConfig check;
  check.name = "secret";
  check.sql = "SELECT count(*) FROM pg_authid";
  check.expect = "> 0";
  return check;
}

}  // namespace

TEST_CASE("checks: recorded SQL is the probe's SQL") {
  auto server = recorded::server();
  config::TargetConfig target;
  ProbeContext ctx{server, target, std::chrono::system_clock::now(), "postgres"};
  for (const auto& check : {idle_check(), slow_check(), secret_check()})
    recorded::record_or_compare("checks/" + check.name,
                                make_custom_check_probe(check)->queries(ctx));
}
