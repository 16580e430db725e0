#include "collect/connect_gate.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace pgvigil::collect {

ConnectGate::Ticket& ConnectGate::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    gate_ = std::move(other.gate_);
    kind_ = other.kind_;
    other.gate_.reset();
  }
  return *this;
}

void ConnectGate::Ticket::release() noexcept {
  if (auto gate = gate_.lock()) gate->release_slot(kind_);
  gate_.reset();
}

ConnectGate::ConnectGate(boost::asio::io_context& io, std::size_t limit,
                         prometheus::Registry* registry)
    : io_(io), limit_(std::max<std::size_t>(limit, 1)) {
  if (registry != nullptr) {
    auto gauge = [&](const char* name, const char* help) {
      return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry).Add({});
    };
    in_flight_gauge_ = gauge("pgvigil_connection_attempts_in_flight",
                             "PostgreSQL connection attempts in progress now.");
    waiting_gauge_ = gauge("pgvigil_connection_attempts_waiting",
                           "Connection attempts waiting for a free slot (admission control).");
    peak_gauge_ = gauge("pgvigil_connection_attempts_in_flight_peak",
                        "The most connection attempts in progress at once since start.");
    limit_gauge_ = gauge("pgvigil_connection_attempts_limit",
                         "The configured limit of connection attempts in progress at once.");
    granted_counter_ = &prometheus::BuildCounter()
                            .Name("pgvigil_connection_attempts_total")
                            .Help(
                                "PostgreSQL connection attempts started (each one a new "
                                "backend on its server when it succeeds).")
                            .Register(*registry)
                            .Add({});
    first_rounds_in_flight_gauge_ =
        gauge("pgvigil_first_rounds_in_flight",
              "Targets running the round of every probe that follows a connect.");
    first_rounds_waiting_gauge_ =
        gauge("pgvigil_first_rounds_waiting",
              "Connected targets whose first round waits for a slot (connection attempts go "
              "first).");
  }
  publish();
}

void ConnectGate::acquire(Granted granted, Admission kind) {
  (kind == Admission::connect ? waiting_ : first_rounds_waiting_).push_back(std::move(granted));
  grant_waiting();
}

std::size_t ConnectGate::first_round_limit() const noexcept {
  return waiting_.empty() ? limit_ : std::max<std::size_t>(limit_ / 8, 1);
}

void ConnectGate::set_limit(std::size_t limit) {
  limit_ = std::max<std::size_t>(limit, 1);
  grant_waiting();
}

void ConnectGate::release_slot(Admission kind) noexcept {
  auto& count = kind == Admission::connect ? in_flight_ : first_rounds_in_flight_;
  if (count > 0) --count;
  publish();
  // The next waiter starts from a fresh loop turn, not inside whatever
  // callback released this slot.
  try {
    boost::asio::post(io_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->grant_waiting();
    });
  } catch (...) {  // posting can only fail on allocation; the next acquire grants
  }
}

void ConnectGate::grant_waiting() {
  const auto grant = [this](std::deque<Granted>& queue, Admission kind) {
    auto granted = std::move(queue.front());
    queue.pop_front();
    boost::asio::post(io_, [granted = std::move(granted),
                            ticket = std::make_shared<Ticket>(weak_from_this(), kind)]() mutable {
      granted(std::move(*ticket));
    });
  };
  while (in_flight_ < limit_ && !waiting_.empty()) {
    ++in_flight_;
    ++granted_;
    if (granted_counter_ != nullptr) granted_counter_->Increment();
    peak_ = std::max(peak_, in_flight_);
    grant(waiting_, Admission::connect);
  }
  // After the attempts: the first rounds' limit depends on whether any wait.
  while (first_rounds_in_flight_ < first_round_limit() && !first_rounds_waiting_.empty()) {
    ++first_rounds_in_flight_;
    grant(first_rounds_waiting_, Admission::first_round);
  }
  publish();
}

void ConnectGate::publish() noexcept {
  if (in_flight_gauge_ == nullptr) return;
  in_flight_gauge_->Set(static_cast<double>(in_flight_));
  waiting_gauge_->Set(static_cast<double>(waiting_.size()));
  peak_gauge_->Set(static_cast<double>(peak_));
  limit_gauge_->Set(static_cast<double>(limit_));
  first_rounds_in_flight_gauge_->Set(static_cast<double>(first_rounds_in_flight_));
  first_rounds_waiting_gauge_->Set(static_cast<double>(first_rounds_waiting_.size()));
}

}  // namespace pgvigil::collect
