#include "collect/connect_gate.hpp"

#include <doctest/doctest.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <optional>
#include <vector>

using pgvigil::collect::ConnectGate;

namespace {

// Collects granted tickets so the test decides when each attempt "ends".
struct Attempts {
  std::vector<std::optional<ConnectGate::Ticket>> tickets;
  ConnectGate::Granted next() {
    return [this](ConnectGate::Ticket ticket) { tickets.emplace_back(std::move(ticket)); };
  }
};

void drain(boost::asio::io_context& io) {
  io.restart();
  io.poll();
}

}  // namespace

TEST_CASE("connect gate: never more attempts in flight than the limit, the rest in order") {
  boost::asio::io_context io;
  prometheus::Registry registry;
  auto gate = ConnectGate::create(io, 2, &registry);
  Attempts attempts;
  for (int i = 0; i < 5; ++i) gate->acquire(attempts.next());
  drain(io);
  CHECK(attempts.tickets.size() == 2);
  CHECK(gate->in_flight() == 2);
  CHECK(gate->waiting() == 3);

  attempts.tickets[0]->release();  // the first attempt ends
  CHECK(gate->in_flight() == 1);
  drain(io);
  CHECK(attempts.tickets.size() == 3);
  CHECK(gate->in_flight() == 2);

  attempts.tickets[1].reset();  // a ticket that goes out of scope frees its slot too
  attempts.tickets[2].reset();
  drain(io);
  CHECK(attempts.tickets.size() == 5);
  CHECK(gate->waiting() == 0);
  CHECK(gate->peak() == 2);

  // The gauges say the same.
  bool found_peak = false;
  for (const auto& family : registry.Collect()) {
    if (family.name == "pgvigil_connection_attempts_in_flight_peak") {
      found_peak = true;
      CHECK(family.metric.at(0).gauge.value == 2);
    }
    if (family.name == "pgvigil_connection_attempts_limit")
      CHECK(family.metric.at(0).gauge.value == 2);
  }
  CHECK(found_peak);
}

TEST_CASE("connect gate: a waiter whose owner left passes its slot on, a raised limit grants") {
  boost::asio::io_context io;
  auto gate = ConnectGate::create(io, 1);
  Attempts attempts;
  gate->acquire(attempts.next());
  bool gone_owner_ran = false;
  gate->acquire([&](ConnectGate::Ticket) { gone_owner_ran = true; });  // drops its ticket
  gate->acquire(attempts.next());
  gate->acquire(attempts.next());
  drain(io);
  REQUIRE(attempts.tickets.size() == 1);
  attempts.tickets[0]->release();
  drain(io);
  drain(io);
  CHECK(gone_owner_ran);
  CHECK(attempts.tickets.size() == 2);  // the slot went on past the owner that left
  CHECK(gate->in_flight() == 1);

  gate->set_limit(5);
  drain(io);
  CHECK(attempts.tickets.size() == 3);
  CHECK(gate->in_flight() == 2);
  CHECK(gate->peak() == 2);

  // Moving a ticket keeps one slot; releasing twice frees it once.
  ConnectGate::Ticket moved = std::move(*attempts.tickets[1]);
  CHECK_FALSE(attempts.tickets[1]->held());
  CHECK(moved.held());
  moved.release();
  moved.release();
  CHECK(gate->in_flight() == 1);
}

TEST_CASE("connect gate: tickets outliving the gate do nothing") {
  boost::asio::io_context io;
  std::optional<ConnectGate::Ticket> ticket;
  {
    auto gate = ConnectGate::create(io, 1);
    gate->acquire([&](ConnectGate::Ticket t) { ticket.emplace(std::move(t)); });
    drain(io);
    REQUIRE(ticket);
    CHECK(ticket->held());
  }
  CHECK_FALSE(ticket->held());
  ticket->release();  // no gate: nothing to do, no crash
}
