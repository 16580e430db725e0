#include "probes/connection_failure.hpp"

#include <doctest/doctest.h>

using pgvigil::FailureReason;
using pgvigil::PingStatus;

TEST_CASE("connection failure: the SQLSTATE in a verbose libpq message decides the reason") {
  const std::string missing =
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  3D000: database "
      "\"shop\" does not exist\nLOCATION:  InitPostgres, postinit.c:941\n";
  CHECK(pgvigil::extract_sqlstate(missing) == "3D000");
  CHECK(pgvigil::classify_connection_failure("3D000", missing) == FailureReason::database_missing);
  CHECK(pgvigil::classify_connection_failure("28P01", "") == FailureReason::auth_failed);
  CHECK(pgvigil::classify_connection_failure("53300", "") == FailureReason::too_many_clients);
  CHECK(pgvigil::classify_connection_failure("57P03", "the database system is starting up") ==
        FailureReason::starting_up);
  CHECK(pgvigil::classify_connection_failure("57P03", "the database system is shutting down") ==
        FailureReason::shutting_down);
  CHECK(pgvigil::classify_connection_failure("57P03", "not yet accepting connections") ==
        FailureReason::recovery);
  CHECK(pgvigil::classify_connection_failure("57P01", "") == FailureReason::shutting_down);
  CHECK(pgvigil::classify_connection_failure("XX000", "") == FailureReason::other);
  // Only a five-character code of digits and capitals followed by ':' counts.
  CHECK(pgvigil::extract_sqlstate("FATAL:  3d000: lower case") == "");
  CHECK(pgvigil::extract_sqlstate("FATAL:  too many connections") == "");
  CHECK(pgvigil::extract_sqlstate("") == "");
}

TEST_CASE("connection failure: without a SQLSTATE the client-side message decides") {
  CHECK(pgvigil::classify_connection_failure(
            "", "connection to server at \"127.0.0.1\", port 1 failed: Connection refused") ==
        FailureReason::refused);
  CHECK(pgvigil::classify_connection_failure(
            "",
            "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No such file or "
            "directory") == FailureReason::refused);
  CHECK(pgvigil::classify_connection_failure("", "timeout expired") == FailureReason::timeout);
  CHECK(pgvigil::classify_connection_failure(
            "", "could not translate host name \"db.invalid\" to address") == FailureReason::dns);
  CHECK(pgvigil::classify_connection_failure("", "SSL error: certificate verify failed") ==
        FailureReason::ssl);
  CHECK(pgvigil::classify_connection_failure("", "FATAL:  sorry, too many clients already") ==
        FailureReason::too_many_clients);
  CHECK(pgvigil::classify_connection_failure("", "something else") == FailureReason::other);
}

TEST_CASE("connection failure: pg_isready's answer follows PQping") {
  CHECK(pgvigil::ping_status_for(FailureReason::none, "") == PingStatus::ok);
  // The server answered, even with an error: ok, except 57P03.
  CHECK(pgvigil::ping_status_for(FailureReason::auth_failed, "28P01") == PingStatus::ok);
  CHECK(pgvigil::ping_status_for(FailureReason::starting_up, "57P03") == PingStatus::rejecting);
  CHECK(pgvigil::ping_status_for(FailureReason::refused, "") == PingStatus::no_response);
  CHECK(pgvigil::ping_status_for(FailureReason::shutting_down, "") == PingStatus::rejecting);

  auto invalid = pgvigil::outcome_before_start("invalid connection option \"colour\"");
  CHECK_FALSE(invalid.ok);
  CHECK(invalid.ping == PingStatus::no_attempt);
  auto refused = pgvigil::outcome_before_start("Connection refused");
  CHECK(refused.reason == FailureReason::refused);
  CHECK(refused.ping == PingStatus::no_response);
}

TEST_CASE("connection failure: names and first lines") {
  CHECK(pgvigil::to_string(FailureReason::too_many_clients) == "too_many_clients");
  CHECK(pgvigil::failure_reason_names().size() == 13);
  CHECK(pgvigil::to_string(PingStatus::no_attempt) == "no_attempt");
  CHECK(pgvigil::first_line("FATAL:  x\nDETAIL: y") == "FATAL:  x");
  CHECK(pgvigil::first_line("trailing   \n") == "trailing");
  CHECK(pgvigil::first_line(std::string(500, 'a')).size() == 300);
}
