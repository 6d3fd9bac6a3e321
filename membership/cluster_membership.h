// ClusterMembership: DESIGN.md §6 — SWIM gossip says who is alive, a Raft log of ClusterMetadata
// says who owns what. It implements Membership for the rest of the node.
//
// Life of a node:
//   - Bootstrap. Nodes start with --seeds and --bootstrap-expect N and meet through gossip. A node
//     with no Raft state that sees at least N live members and has the smallest live id asks every
//     other live node (kClusterProbe) whether it already belongs to a cluster or knows of a live
//     member with a smaller id; if none does, it alone writes the initial snapshot (the N
//     smallest live ids, active, epoch 1; up to kVotersMax voters, the rest learners) and becomes
//     the first leader once a majority of them answers its vote. The others, having no state,
//     wait to be caught up by that leader's snapshot. A restarted node recovers its WAL instead.
//     A node whose --seeds name other nodes never bootstraps alone (it waits to meet them).
//   - Join. A node with no state that is not (yet) in the metadata sends a join request
//     (kMetaRequest) to a live member every join_retry_ms; non-leaders relay it to their leader,
//     which adds it as a Raft learner with an AddNode command riding on the conf change. The
//     leader promotes learners to voters while there are fewer than kVotersMax voters.
//   - Leader duties, every control tick: AdvanceEpoch every epoch_interval_s; RemoveNode for
//     leaving members whose handover is done; promotions.
//   - Leave. A decommissioned member keeps serving until its partitions are streamed away; once
//     it sees itself removed (in its own metadata, or, as the leader stops replicating to removed
//     members, in the metadata of a peer at least as recent) it calls the on_departed listener
//     (the node exits). It never leaves before its removal committed.
// Every applied change publishes a new immutable ClusterView (ring, gossip states, metadata, Raft
// status); view() is a lock-free atomic read.
//
// Thread-safety: all state lives on one strand; public methods may be called from any thread.
// Lifetime: stop(), then drain the io_context, then destroy.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/clock.h"
#include "core/metrics.h"
#include "membership/cluster_metadata.h"
#include "membership/membership.h"
#include "membership/raft/raft.h"
#include "membership/raft_host.h"
#include "membership/swim/gossip.h"
#include "net/transport.h"

namespace chorus {

// Raft voters in the metadata log: 5 tolerates two failures; more would slow every commit.
constexpr size_t kVotersMax = 5;
static_assert(kVotersMax <= raft::kMaxVoters, "the Raft core must accept every voter set we make");
static_assert(kVotersMax % 2 == 1, "an even voter count tolerates no more failures than one fewer");
// How long the leader waits between a member becoming removable and removing it from the Raft
// configuration: 20 heartbeats for it to learn its handover is done.
constexpr uint64_t kRemovalDelayMs = 2000;

struct ClusterMembershipOptions {
  Member self;
  std::vector<std::string> seeds;  // peer addresses; may include our own
  size_t bootstrap_expect = 1;
  uint32_t partitions = 256;
  int replicas = 3;
  std::string data_dir;
  uint64_t epoch_interval_s = 30;
  // The control loop: bootstrap and join attempts, leader duties, view refresh.
  uint64_t control_interval_ms = 250;
  uint64_t join_retry_ms = 1000;
  uint64_t request_timeout_ms = 2000;
  RaftHostOptions raft;  // raft_id, self address and dir are filled in by start()
  GossipOptions gossip;  // self and seeds are filled in by start()
};

class ClusterMembership final : public Membership {
 public:
  ClusterMembership(boost::asio::io_context& io, Transport* transport, const Clock* clock,
                    ClusterMembershipOptions options, MetricsRegistry* metrics);
  ~ClusterMembership() override;

  // Recovers the metadata log, starts gossip and the control loop. IOError/Corruption from the
  // WAL, IOError when the gossip port cannot be bound.
  Status start();
  void stop();

  // Transport handler for kRaftMessage, kMetaRequest and kClusterProbe. `caller` is the node id the
  // transport authenticated (mutual TLS), or empty without TLS. With one, identity is bound to the
  // connection: a Raft message must be from the caller's raft id, a join must name the caller, a
  // request relayed by a follower must come from a member (and a stream-done must be the caller's
  // own). Anything else is refused with PermissionDenied and counted in
  // chorus_security_refusals_total{reason="peer_identity"|"peer_not_member"}.
  void handle_rpc(const std::string& caller, uint16_t method, std::string payload,
                  Responder respond);
  // For replica, stream and repair RPCs, from any thread: OK when `caller` is a member of the
  // metadata this node knows, when this node knows none yet (it owns nothing, and a joiner must be
  // reachable before its metadata arrives), or without TLS (empty caller). PermissionDenied,
  // counted as reason="peer_not_member", otherwise: a node with a valid certificate that never
  // joined, or already left, can neither write nor read replicas.
  Status admit_peer(const std::string& caller) const;

  std::shared_ptr<const ClusterView> view() const override;
  void on_member_alive(std::function<void(const std::string& id)> listener) override;
  void submit(MetaCommand command, std::function<void(Status)> done) override;
  // Called once when this node has left the cluster (decommissioned or removed).
  void on_departed(std::function<void()> listener);

  // Test-only fault injection: drop gossip to and from these peer addresses.
  Gossip& gossip() { return *gossip_; }

 private:
  void schedule_control();
  void control();
  void try_bootstrap();
  void bootstrap_with(std::vector<Member> members);
  void try_join();
  void leader_duties();
  void handle_request(const std::string& caller, std::string payload, Responder respond);
  // On the strand: whether `caller` may send `command` (relayed or not); see handle_rpc.
  Status check_request(const std::string& caller, const MetaCommand& command, bool relayed) const;
  void handle_probe(Responder respond);
  // Runs `command` on the leader: proposes here, or relays once to the leader.
  void route(MetaCommand command, bool relayed, std::function<void(Status)> done);
  Status propose_here(const MetaCommand& command);
  void apply(const raft::Entry& entry);
  void apply_command(const MetaCommand& command);
  void restore(const raft::Snapshot& snapshot);
  void on_gossip_change(const std::string& id, MemberState before, MemberState after);
  void publish();
  void check_departure();
  void depart();
  std::string address_of_raft_id(uint64_t raft_id) const;
  std::string leader_address() const;
  std::vector<Member> live_members() const;

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;
  Transport* transport_;
  const Clock* clock_;
  ClusterMembershipOptions options_;
  MetricsRegistry* metrics_;
  std::unique_ptr<Gossip> gossip_;
  std::unique_ptr<RaftHost> raft_;
  ClusterMetadata metadata_;
  uint64_t metadata_version_ = 0;  // bumped on every applied change or restore
  uint64_t published_version_ = 0;
  std::shared_ptr<const ClusterMetadata> published_metadata_;
  std::shared_ptr<const Ring> ring_;
  std::shared_ptr<const ClusterView> view_;  // std::atomic_load/store
  std::map<std::string, MemberState> gossip_states_;
  std::vector<std::function<void(const std::string&)>> alive_listeners_;
  std::function<void()> departed_listener_;
  bool was_member_ = false;
  bool departed_ = false;
  std::optional<uint64_t> removable_since_ms_;                // this node's own departure
  std::map<std::string, uint64_t> removable_since_ms_by_id_;  // leader: when each became removable
  bool probing_ = false;
  bool warned_alone_ = false;
  uint64_t next_join_ms_ = 0;
  uint64_t next_epoch_ms_ = 0;
  std::atomic<bool> stopped_{false};
  Gauge* epoch_gauge_;
  Gauge* members_gauge_;
  Gauge* partitions_moving_gauge_;
  Counter* epochs_advanced_;
  Counter* impersonations_refused_;
  Counter* strangers_refused_;
};

}  // namespace chorus
