// Swim: SWIM gossip membership and failure detection (Das, Gupta, Motivala 2002, with memberlist's
// refinements) as a pure, sans-I/O state machine: the probe logic and the glue of the pieces in
// this folder (messages.h wire codec, member_table.h incarnation rules, suspicion.h timeouts,
// broadcast_queue.h dissemination). gossip.h drives it over UDP; tests/sim drives it in virtual
// time.
//
// The caller feeds it three inputs and collects two outputs:
//   step(from, bytes, now_ms)  a datagram that arrived from address `from`;
//   tick(now_ms)               time passed (call every few tens of ms; deadlines are in ms);
//   take_outgoing()            datagrams to send, {to_address, bytes}, each <= kMaxDatagramBytes;
//   take_changes()             members that changed state in this node's view, in order.
// now_ms is any monotonic millisecond clock; a value lower than an earlier one counts as the
// earlier.
//
// What it does, per probe interval: probe one member (alive or suspect; a shuffled round-robin over
// the table, reshuffled after each full pass, so every member is probed within two passes) with a
// ping. No ack within probe_timeout_ms: ask indirect_probes random alive members to ping it for us
// (ping-req). No ack, direct or relayed, by the end of the interval: suspect it. A suspicion is
// disseminated; the suspected member refutes by raising its incarnation and disseminating alive.
// After the suspicion timeout (suspicion.h) the suspector declares it dead. Updates ride on every
// datagram (broadcast_queue.h); a datagram to a member we hold suspect or dead always carries that
// claim first, so the member learns of it and refutes. Every message also carries its sender's
// alive record, so joins and restarts spread through normal traffic.
// Joining: until it knows a live member, a node sends join to every seed address (its own is
// skipped) every join_interval_ms; a node receiving join answers with its member table in sync
// datagrams. Every dead_probe_interval_ms a node pings one random dead member, so a member that
// was only partitioned away (or restarted) learns it was declared dead, refutes and comes back.
// Every sync_interval_ms a joined node push-pulls with one random live member (sends its table as
// sync datagrams and a join asking for theirs): anti-entropy for updates whose piggybacked
// retransmissions all missed a member (memberlist's push/pull, over UDP).
//
// Errors: create() returns InvalidArgument for a bad Config. Malformed or misaddressed datagrams
// are dropped and counted in stats(); nothing a peer sends can crash it. Broken internal
// invariants abort.
// Thread-safety: none. One Swim is driven by one thread (a strand in gossip.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "membership/swim/broadcast_queue.h"
#include "membership/swim/limits.h"
#include "membership/swim/member_table.h"
#include "membership/swim/messages.h"
#include "membership/swim/suspicion.h"

namespace chorus::swim {

struct Config {
  Member self;                     // valid_member(self); peer_address is where we listen
  std::vector<std::string> seeds;  // "host:port" peer addresses; may include our own
  // Defaults are for a LAN or loopback (gossip.h documents the detection time they give).
  // One probe per 200 ms: a member is probed by someone about every 200 ms, and the traffic stays
  // around 5 pings and acks per node per second whatever the cluster size.
  uint64_t probe_interval_ms = 200;
  // A LAN round trip is well under 1 ms; 100 ms tolerates a busy peer or a scheduling hiccup and
  // leaves the second half of the interval for the indirect probe's four hops.
  uint64_t probe_timeout_ms = 100;
  // Helpers per indirect probe (memberlist's default): three independent paths make a false
  // suspicion need several lost datagrams at once.
  int indirect_probes = 3;
  // suspicion_timeout_ms = max(min, mult * log10(n + 1) * probe_interval_ms): 4 is memberlist's
  // LAN multiplier; the 1 s floor (5 probe intervals) lets a suspected member of a small cluster
  // hear of it from several probes before it is declared dead.
  double suspicion_mult = 4.0;
  uint64_t suspicion_min_timeout_ms = 1000;
  // Each update is piggybacked retransmit_mult * ceil(log10(n + 1)) times (memberlist's 4): enough
  // for infection-style gossip to reach every member with high probability.
  int retransmit_mult = 4;
  // Join retries: cheap (one datagram per seed), and a seed that starts later is found quickly.
  uint64_t join_interval_ms = 500;
  // Pinging one dead member per second heals a partition within seconds of its end, at negligible
  // cost for members that really are gone.
  uint64_t dead_probe_interval_ms = 1000;
  // Push-pull anti-entropy: memberlist uses 30 s over TCP; tables here are small (a few sync
  // datagrams for tens of members), so 10 s bounds how long a missed update can hide.
  uint64_t sync_interval_ms = 10'000;
  uint64_t random_seed = 1;  // all randomness (probe order, helpers, start offset) comes from here
};

struct Datagram {
  std::string to_address;
  std::string bytes;
};

// Counters of what happened; monotonic over the Swim's life.
struct Stats {
  uint64_t datagrams_received = 0;
  uint64_t datagrams_sent = 0;
  uint64_t datagrams_malformed = 0;     // failed decode(): dropped
  uint64_t datagrams_misaddressed = 0;  // a ping for another id, or a datagram claiming our id
  uint64_t datagrams_dropped = 0;       // outbox full (kMaxOutgoingDatagrams)
  uint64_t probes = 0;
  uint64_t probes_failed = 0;
  uint64_t ping_reqs_sent = 0;
  uint64_t relays_dropped = 0;   // ping-reqs refused: kMaxPendingRelays in flight
  uint64_t suspicions = 0;       // suspicions this node raised from its own failed probes
  uint64_t deaths_declared = 0;  // suspicion timeouts that expired here
  uint64_t refutations = 0;
  uint64_t members_rejected = 0;  // new members refused by a full table
  uint64_t joins_sent = 0;
  uint64_t push_pulls = 0;
};

class Swim {
 public:
  // InvalidArgument when: self is not valid_member; more than kMaxSeeds seeds or a seed address
  // empty or over kMaxAddressBytes; probe_interval_ms == 0; probe_timeout_ms not in
  // (0, probe_interval_ms); indirect_probes outside [0, kMaxIndirectProbes]; suspicion_mult not
  // positive; retransmit_mult < 1; a join, dead-probe or sync interval == 0.
  static Result<Swim> create(Config config);

  void step(const std::string& from_address, std::string_view datagram, uint64_t now_ms);
  void tick(uint64_t now_ms);
  std::vector<Datagram> take_outgoing();
  std::vector<Change> take_changes() { return table_.take_changes(); }

  // Every known member (self included, always alive) by id.
  const std::map<std::string, MemberInfo>& members() const { return table_.all(); }
  const MemberInfo* find(const std::string& id) const { return table_.find(id); }
  const MemberInfo& self() const { return table_.self(); }
  // Goes up on every change to the table (see MemberTable::version).
  uint64_t version() const { return table_.version(); }
  // True once this node knows another member that is not dead.
  bool joined() const;
  const Stats& stats() const { return stats_; }
  const Config& config() const { return config_; }
  // Current values of the size-dependent parameters (n = members not dead, self included).
  uint64_t suspicion_timeout_ms() const;
  int transmit_limit() const;
  size_t queued_broadcasts() const { return queue_.size(); }

 private:
  struct Probe {
    std::string target_id;
    uint64_t seq = 0;
    uint64_t sent_ms = 0;
    bool indirect_sent = false;
  };
  // A ping-req we serve: our ping to the target carries our own seq; its ack is forwarded here.
  struct Relay {
    std::string requester_address;
    std::string requester_id;
    uint64_t requester_seq = 0;
    uint64_t expires_ms = 0;
  };

  explicit Swim(Config config);

  uint64_t advance(uint64_t now_ms);
  void absorb(const Update& claim, uint64_t now_ms);
  void handle_ping(const std::string& from, const Message& m);
  void handle_ping_req(const std::string& from, const Message& m, uint64_t now_ms);
  void handle_ack(const Message& m);
  void send_sync(const std::string& to);

  void start_probe(uint64_t now_ms);
  void check_probe(uint64_t now_ms);
  void fail_probe(uint64_t now_ms);
  void send_ping_reqs();
  std::optional<std::string> next_probe_target();
  void maybe_join(uint64_t now_ms);
  void maybe_probe_dead(uint64_t now_ms);
  void maybe_push_pull(uint64_t now_ms);
  void expire_suspicions(uint64_t now_ms);
  void expire_relays(uint64_t now_ms);

  Message make(MessageType type, uint64_t seq) const;
  // Adds the recipient's state (when we hold it suspect or dead) and queued broadcasts up to the
  // datagram budget, encodes, and queues for sending. recipient_id may be empty (unknown).
  void send(const std::string& to, Message m, const std::string& recipient_id);
  void push_datagram(const std::string& to, std::string bytes);
  size_t live_members() const;
  uint64_t random_below(uint64_t n) { return rng_() % n; }

  Config config_;
  std::mt19937_64 rng_;
  MemberTable table_;
  BroadcastQueue queue_;
  SuspicionTimers suspicions_;
  std::vector<std::string> probe_order_;
  size_t probe_index_ = 0;
  std::optional<Probe> probe_;
  std::map<uint64_t, Relay> relays_;
  uint64_t next_seq_ = 1;
  bool started_ = false;
  uint64_t now_ms_ = 0;
  uint64_t next_probe_ms_ = 0;
  uint64_t next_join_ms_ = 0;
  uint64_t next_dead_probe_ms_ = 0;
  uint64_t next_sync_ms_ = 0;
  std::vector<Datagram> outbox_;
  Stats stats_;
  mutable uint64_t live_count_version_ = UINT64_MAX;  // cache for live_members()
  mutable size_t live_count_ = 0;
};

}  // namespace chorus::swim
