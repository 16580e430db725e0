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

TEST_CASE("connect gate: first rounds wait behind connection attempts, an eighth of the limit") {
  boost::asio::io_context io;
  prometheus::Registry registry;
  auto gate = ConnectGate::create(io, 16, &registry);
  Attempts connects;
  Attempts rounds;
  for (int i = 0; i < 20; ++i) gate->acquire(connects.next());
  for (int i = 0; i < 10; ++i)
    gate->acquire(rounds.next(), pgvigil::collect::Admission::first_round);
  drain(io);
  // Four attempts wait: first rounds get 16 / 8 = 2 slots of their own.
  CHECK(connects.tickets.size() == 16);
  CHECK(gate->waiting() == 4);
  CHECK(rounds.tickets.size() == 2);
  CHECK(gate->first_rounds_in_flight() == 2);
  CHECK(gate->first_rounds_waiting() == 8);
  CHECK(gate->first_round_limit() == 2);

  // A first round that ends lets the next one in, still two at a time.
  rounds.tickets[0]->release();
  CHECK(gate->first_rounds_in_flight() == 1);
  CHECK(gate->in_flight() == 16);  // a first round's ticket frees no attempt's slot
  drain(io);
  CHECK(rounds.tickets.size() == 3);
  CHECK(gate->first_rounds_in_flight() == 2);

  // Once no attempt waits, first rounds may use the whole limit.
  for (int i = 0; i < 4; ++i) connects.tickets[static_cast<std::size_t>(i)].reset();
  drain(io);
  drain(io);
  CHECK(connects.tickets.size() == 20);
  CHECK(gate->waiting() == 0);
  CHECK(gate->first_round_limit() == 16);
  CHECK(rounds.tickets.size() == 10);  // the seven left, all in flight now
  CHECK(gate->first_rounds_in_flight() == 9);
  CHECK(gate->peak() == 16);  // attempts only
  CHECK(gate->granted() == 20);

  for (const auto& family : registry.Collect()) {
    if (family.name == "pgvigil_first_rounds_in_flight")
      CHECK(family.metric.at(0).gauge.value == 9);
    if (family.name == "pgvigil_first_rounds_waiting") CHECK(family.metric.at(0).gauge.value == 0);
    if (family.name == "pgvigil_connection_attempts_in_flight")
      CHECK(family.metric.at(0).gauge.value == 16);
  }
}

TEST_CASE("connect gate: a small limit still lets one first round run during a ramp") {
  boost::asio::io_context io;
  auto gate = ConnectGate::create(io, 3);
  Attempts connects;
  Attempts rounds;
  for (int i = 0; i < 5; ++i) gate->acquire(connects.next());
  gate->acquire(rounds.next(), pgvigil::collect::Admission::first_round);
  gate->acquire(rounds.next(), pgvigil::collect::Admission::first_round);
  drain(io);
  CHECK(connects.tickets.size() == 3);
  CHECK(rounds.tickets.size() == 1);  // never starved, however long attempts wait
  // Moving a first round's ticket keeps its kind: releasing it frees a first-round slot.
  ConnectGate::Ticket moved = std::move(*rounds.tickets[0]);
  moved.release();
  CHECK(gate->first_rounds_in_flight() == 0);
  CHECK(gate->in_flight() == 3);
  drain(io);
  CHECK(rounds.tickets.size() == 2);
}
