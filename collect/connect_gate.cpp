#include "collect/connect_gate.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace pgvigil::collect {

ConnectGate::Ticket& ConnectGate::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    gate_ = std::move(other.gate_);
    other.gate_.reset();
  }
  return *this;
}

void ConnectGate::Ticket::release() noexcept {
  if (auto gate = gate_.lock()) gate->release_slot();
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
  }
  publish();
}

void ConnectGate::acquire(Granted granted) {
  waiting_.push_back(std::move(granted));
  grant_waiting();
}

void ConnectGate::set_limit(std::size_t limit) {
  limit_ = std::max<std::size_t>(limit, 1);
  grant_waiting();
}

void ConnectGate::release_slot() noexcept {
  if (in_flight_ > 0) --in_flight_;
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
  while (in_flight_ < limit_ && !waiting_.empty()) {
    auto granted = std::move(waiting_.front());
    waiting_.pop_front();
    ++in_flight_;
    ++granted_;
    if (granted_counter_ != nullptr) granted_counter_->Increment();
    peak_ = std::max(peak_, in_flight_);
    boost::asio::post(io_, [granted = std::move(granted),
                            ticket = std::make_shared<Ticket>(weak_from_this())]() mutable {
      granted(std::move(*ticket));
    });
  }
  publish();
}

void ConnectGate::publish() noexcept {
  if (in_flight_gauge_ == nullptr) return;
  in_flight_gauge_->Set(static_cast<double>(in_flight_));
  waiting_gauge_->Set(static_cast<double>(waiting_.size()));
  peak_gauge_->Set(static_cast<double>(peak_));
  limit_gauge_->Set(static_cast<double>(limit_));
}

}  // namespace pgvigil::collect
