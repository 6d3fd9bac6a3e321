// Gossip: the SWIM core (swim.h) on a real network - one UDP socket bound to the node's peer
// address (the same host:port as its internode TCP port), a periodic tick, and an immutable member
// snapshot for readers.
//
// All protocol state lives on one strand: datagrams received, the tick timer and sends all run
// there, and the core is never touched elsewhere. members() is an atomically published
// shared_ptr<const MemberSnapshot>, so readers on any thread never lock; it is replaced whenever
// the table changes. on_change callbacks run on the strand, in order, after the snapshot that
// includes the change was published; they must not block.
//
// Timing with the defaults (swim::Config, tick_interval_ms = 50): after a crash, each other member
// starts a probe of the crashed node within 2n-3 probe intervals (shuffled round-robin, reshuffled
// per pass), the probe fails one 200 ms interval later, and the suspicion lasts
// S(n) = max(1000, 4 * log10(n + 1) * 200) ms; each step may wait one tick. So a killed node is
// declared dead by every live member within (2n - 2) * 200 + S(n) + 3 * 50 ms even if no gossip
// reached them - 1.95 s for n = 3, 2.75 s for n = 5 - and in practice sooner (about
// 200 + 200 + S(n) ms plus a few gossip hops, ~1.5 s for small clusters), because the first member
// to probe it spreads the suspicion. tests/sim checks this bound.
//
// Fault hook (tests only): set_blocked_peers() drops datagrams to and from the given addresses, as
// compared with the literal "ip:port" of received datagrams and the address strings the core sends
// to (use numeric addresses). It does nothing unless called.
//
// Sealing (DESIGN.md §10): with options.sealer set, every datagram sent is sealed and every one
// received must open (security/gossip_seal.h); one that does not is dropped before the core sees
// it and counted in chorus_security_refusals_total{reason="gossip_unsealed"|"gossip_unauthentic"|
// "gossip_replayed"}. Without a sealer datagrams are plain, and a sealed one is malformed to the
// core.
//
// Errors: start() returns InvalidArgument for a bad address or Config, IOError when the socket
// cannot be opened or bound (port in use); no exception escapes. Runtime socket errors are counted
// in metrics and logged, never thrown.
// Lifetime: stop() (also run by the destructor) closes the socket and cancels the timer; handlers
// still queued hold the internal state by shared_ptr, so destroying a Gossip with the io_context
// still running is safe. Callback state must stay valid until the io_context has drained.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/status.h"
#include "membership/swim/swim.h"
#include "security/gossip_seal.h"

namespace chorus {

// Every member this node knows, self included, sorted by id.
using MemberSnapshot = std::vector<swim::MemberInfo>;

struct GossipOptions {
  // config.self.peer_address is bound. Port 0 binds an ephemeral port and advertises it (tests).
  swim::Config config;
  // A quarter of the probe interval: probe deadlines (100 ms) are met within 50 ms, at ~20 cheap
  // wake-ups per second.
  uint64_t tick_interval_ms = 50;
  // Seals and opens every datagram when set (--gossip-key); used on the gossip strand only.
  std::shared_ptr<security::GossipSealer> sealer;
};

class Gossip {
 public:
  // clock and metrics must outlive the Gossip and any handler it left on the io_context.
  Gossip(boost::asio::io_context& io, GossipOptions options, const Clock* clock,
         MetricsRegistry* metrics);
  ~Gossip();
  Gossip(const Gossip&) = delete;
  Gossip& operator=(const Gossip&) = delete;

  // Binds the socket, creates the core and starts receiving and ticking. Call once.
  Status start();
  // Idempotent; returns at once. No callback starts after the socket is closed on the strand.
  void stop();

  // Never null; empty before start().
  std::shared_ptr<const MemberSnapshot> members() const;
  // The advertised self (with the bound port when 0 was asked). Valid after start() returned OK.
  const Member& self() const;
  // Register before start().
  void on_change(std::function<void(const swim::Change&)> callback);
  // Test-only fault injection: replaces the set of blocked addresses (empty = none).
  void set_blocked_peers(std::set<std::string> addresses);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus
