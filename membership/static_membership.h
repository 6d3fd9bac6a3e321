// StaticMembership: the bootstrap membership of the first slice (DESIGN.md §6 is the target).
//
// Each node is started with --seeds and --bootstrap-expect N. Nodes exchange Hello messages over
// the internode transport (every message carries the sender's HLC and its view of the members);
// once N members are known the ring is formed from exactly those members, persisted to
// <data>/cluster.json (atomic rename + fsync) and never changed afterwards. A restarted node loads
// that file and serves at once. Hellos double as heartbeats: a member not heard from within
// failure_timeout_ms is dead until heard from again.
//
// Thread-safety: all state lives on one strand; view() is a lock-free atomic snapshot read.
// Lifetime: the owner calls stop() and lets the io_context drain before destroying it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/clock.h"
#include "core/hlc.h"
#include "core/metrics.h"
#include "membership/membership.h"
#include "membership/peer_table.h"
#include "net/transport.h"

namespace chorus {

struct StaticMembershipOptions {
  Member self;
  std::vector<std::string> seeds;  // peer addresses "host:port"; may include our own
  size_t bootstrap_expect = 3;
  uint32_t partitions = 256;
  int replicas = 3;
  std::string data_dir;
  // Heartbeat period and the silence after which a member counts as dead. 2 s detects a killed
  // node quickly on a LAN while tolerating a few lost heartbeats and GC-free scheduling hiccups.
  uint64_t hello_interval_ms = 250;
  uint64_t failure_timeout_ms = 2000;
};

class StaticMembership final : public Membership {
 public:
  StaticMembership(boost::asio::io_context& io, Transport* transport, HlcClock* hlc,
                   const Clock* clock, StaticMembershipOptions options, MetricsRegistry* metrics);

  // Loads <data>/cluster.json if present (InvalidArgument/Corruption if unreadable) and starts the
  // heartbeat loop.
  Status start();
  void stop();

  // Transport handler for RpcMethod::kHello.
  void handle_hello(std::string payload, Responder respond);

  std::shared_ptr<const ClusterView> view() const override;
  void on_member_alive(std::function<void(const std::string& id)> listener) override;
  // Static membership has no metadata log: every change is refused with Unavailable.
  void submit(MetaCommand command, std::function<void(Status)> done) override;

 private:
  void schedule_tick();
  void tick();
  void send_hello(const std::string& address);
  std::string encode_hello() const;
  // Returns the sender, or nullopt for a malformed hello.
  std::optional<Member> absorb_hello(std::string_view payload);
  void maybe_form();
  void publish();
  Status load_persisted();
  Status persist() const;

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;
  Transport* transport_;
  HlcClock* hlc_;
  const Clock* clock_;
  StaticMembershipOptions options_;
  PeerTable table_;
  std::shared_ptr<const Ring> ring_;
  std::shared_ptr<const ClusterView> view_;  // accessed with std::atomic_load/store
  std::vector<std::function<void(const std::string&)>> alive_listeners_;
  std::atomic<bool> stopped_{false};
  Gauge* alive_gauge_;
  Counter* transitions_;
};

}  // namespace chorus
