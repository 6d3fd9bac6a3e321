// RaftHost: runs the sans-I/O Raft core (membership/raft) for real: a tick timer, the WAL under
// <data>/raft, and the internode transport (RpcMethod::kRaftMessage).
//
// Each Ready is handled in the order raft.h demands: a received snapshot and the hard state and
// entries are made durable (fsync) first, then messages are sent, then committed entries are handed
// to the owner's apply callback. Every `compact_every_entries` applied entries the host asks the
// owner for its state and compacts the log into a snapshot, so the WAL stays bounded.
//
// Peers are addressed by raft id; the owner maps ids to peer addresses (from the metadata), and
// the host also remembers the address every incoming message came from, which is how a joining
// node with no metadata yet answers the leader that is catching it up.
//
// Thread-safety: every method must be called on the strand given to the constructor, and every
// callback runs on it. Lifetime: stop() before destruction; the io_context must outlive pending
// handlers (they hold no pointer to a destroyed host once stop() ran and the io_context drained).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/metrics.h"
#include "core/status.h"
#include "membership/raft/raft.h"
#include "net/transport.h"

namespace chorus {

namespace raft {
class Wal;
}

struct RaftHostOptions {
  uint64_t raft_id = 0;
  std::string self_peer_address;
  std::string dir;  // the WAL directory (<data>/raft)
  // One tick is 100 ms: heartbeats every tick, elections after 1-2 s of silence. On a LAN that
  // elects a new leader about 1.5 s after a crash, yet rides out a few lost heartbeats.
  uint64_t tick_ms = 100;
  int election_timeout_ticks = 10;
  int heartbeat_interval_ticks = 1;
  uint64_t message_timeout_ms = 1000;
  // Metadata entries are small; compacting every 512 keeps the WAL and a restart's replay short.
  uint64_t compact_every_entries = 512;
};

class RaftHost {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  struct Callbacks {
    std::function<std::string(uint64_t raft_id)> address_of;      // "" when unknown
    std::function<void(const raft::Entry& entry)> apply;          // a committed entry, in log order
    std::function<void(const raft::Snapshot& snapshot)> restore;  // replace state by a snapshot
    std::function<std::string()> capture;  // the state after the last applied entry
  };

  RaftHost(boost::asio::io_context& io, Strand strand, Transport* transport,
           RaftHostOptions options, Callbacks callbacks, MetricsRegistry* metrics);
  ~RaftHost();

  // Recovers the WAL (restoring its snapshot and re-applying committed entries through the
  // callbacks). Returns Corruption/IOError from the WAL. A node with nothing on disk starts with
  // no configuration: it never campaigns, and waits to be caught up by a leader.
  Status open();
  // True when the WAL held no state: the node has never been part of a cluster.
  bool fresh() const { return fresh_; }
  // Starts a new cluster from `initial` (index 1, term 1, its conf and the owner's initial state);
  // only on a fresh node, and before start(). Persists it before returning.
  Status bootstrap(const raft::Snapshot& initial);
  void start();
  void stop();

  // Transport handler for RpcMethod::kRaftMessage (called on any thread). With `caller_raft_id`
  // (the raft id of the node the transport authenticated), a message whose `from` is any other id
  // is refused with PermissionDenied and counted as chorus_security_refusals_total{reason=
  // "peer_identity"}: nobody can vote, campaign or append in another node's name.
  void handle_message(std::string payload, Responder respond,
                      std::optional<uint64_t> caller_raft_id);

  Status propose(std::string data);
  Status propose_conf_change(const raft::ConfChange& cc);

  raft::Role role() const;
  uint64_t term() const;
  uint64_t leader() const;
  uint64_t commit_index() const;
  uint64_t applied_index() const { return applied_index_; }
  const raft::ConfState* conf_state() const;

 private:
  void schedule_tick();
  void on_tick();
  void step(raft::Message m, std::string from_address);
  void process_ready();
  void send(const raft::Message& m);
  void maybe_compact();
  Status create_raft(const raft::MemoryStorage& state);

  boost::asio::io_context& io_;
  Strand strand_;
  boost::asio::steady_timer timer_;
  Transport* transport_;
  RaftHostOptions options_;
  Callbacks callbacks_;
  std::unique_ptr<raft::Wal> wal_;
  std::optional<raft::Raft> raft_;
  std::map<uint64_t, std::string> heard_from_;  // raft id -> address of its last message
  uint64_t applied_index_ = 0;
  uint64_t snapshot_index_ = 0;
  bool fresh_ = true;
  bool stopped_ = false;
  bool fatal_ = false;  // a WAL write failed: stop taking part rather than break durability
  Gauge* term_gauge_;
  Gauge* commit_gauge_;
  Gauge* leader_gauge_;
  Counter* messages_sent_;
  Counter* messages_received_;
  Counter* messages_dropped_;
  Counter* snapshots_taken_;
  Counter* impersonations_refused_;
};

}  // namespace chorus
