#pragma once
// Admission control for new PostgreSQL connections: at most `limit`
// connection attempts in flight across the whole daemon, the rest wait in
// arrival order. A fleet that starts, or a hundred targets whose server just
// restarted, connect in a steady stream instead of a storm that leaves
// backends stuck in authentication.
//
// The gate also paces the first rounds that follow a connect (every probe of
// the target at once, on a backend whose caches are cold: about ten times
// the server's cost of the connect itself). They have their own `limit`, and
// while connection attempts wait only an eighth of it (at least one): the
// servers' CPU goes to bringing every target up first, and the first rounds
// follow in a stream rather than all together when the ramp ends. Loop
// thread only.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>

namespace pgvigil::collect {

// What a slot is for; connection attempts go first.
enum class Admission { connect, first_round };

class ConnectGate : public std::enable_shared_from_this<ConnectGate> {
 public:
  // Holds one slot until destroyed (or release()d); movable, not copyable.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(std::weak_ptr<ConnectGate> gate, Admission kind) : gate_(std::move(gate)), kind_(kind) {}
    Ticket(Ticket&& other) noexcept : gate_(std::move(other.gate_)), kind_(other.kind_) {
      other.gate_.reset();
    }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }
    void release() noexcept;
    bool held() const noexcept { return !gate_.expired(); }

   private:
    std::weak_ptr<ConnectGate> gate_;
    Admission kind_ = Admission::connect;
  };
  using Granted = std::function<void(Ticket)>;

  static constexpr std::size_t kDefaultLimit = 32;

  static std::shared_ptr<ConnectGate> create(boost::asio::io_context& io,
                                             std::size_t limit = kDefaultLimit,
                                             prometheus::Registry* registry = nullptr) {
    return std::shared_ptr<ConnectGate>(new ConnectGate(io, limit, registry));
  }

  // `granted` runs on the loop with a ticket: at once (posted) when a slot is
  // free, else when one frees. A waiter whose owner has gone simply lets its
  // ticket go, which passes the slot on.
  void acquire(Granted granted, Admission kind = Admission::connect);
  // A lower limit lets attempts in flight finish; new ones wait.
  void set_limit(std::size_t limit);

  std::size_t limit() const noexcept { return limit_; }
  // Connection attempts.
  std::size_t in_flight() const noexcept { return in_flight_; }
  std::size_t waiting() const noexcept { return waiting_.size(); }
  std::size_t first_rounds_in_flight() const noexcept { return first_rounds_in_flight_; }
  std::size_t first_rounds_waiting() const noexcept { return first_rounds_waiting_.size(); }
  // How many first rounds may run now: the limit, or an eighth of it while
  // connection attempts wait.
  std::size_t first_round_limit() const noexcept;
  std::size_t peak() const noexcept { return peak_; }
  std::uint64_t granted() const noexcept { return granted_; }  // attempts started, ever

 private:
  ConnectGate(boost::asio::io_context& io, std::size_t limit, prometheus::Registry* registry);
  void release_slot(Admission kind) noexcept;
  void grant_waiting();
  void publish() noexcept;

  boost::asio::io_context& io_;
  std::size_t limit_;
  std::size_t in_flight_ = 0;
  std::size_t peak_ = 0;
  std::uint64_t granted_ = 0;
  std::deque<Granted> waiting_;
  std::size_t first_rounds_in_flight_ = 0;
  std::deque<Granted> first_rounds_waiting_;
  prometheus::Gauge* in_flight_gauge_ = nullptr;
  prometheus::Gauge* waiting_gauge_ = nullptr;
  prometheus::Gauge* peak_gauge_ = nullptr;
  prometheus::Gauge* limit_gauge_ = nullptr;
  prometheus::Counter* granted_counter_ = nullptr;
  prometheus::Gauge* first_rounds_in_flight_gauge_ = nullptr;
  prometheus::Gauge* first_rounds_waiting_gauge_ = nullptr;
};

}  // namespace pgvigil::collect
