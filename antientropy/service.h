// AntiEntropyService: runs anti-entropy in a node (DESIGN.md §7): decides which (partition, epoch)
// pairs to compare, drives Exchanges over the transport, answers peers' requests, and keeps the
// RepairLedger (persisted in the Store's engine under the 'a' keyspace).
//
// What triggers work:
//   - the epoch advancing from E to E+1 closes E (settle_ms later, once writes coordinated in E
//     have landed): every partition this node initiates for is queued, and so is every partition
//     whose oldest unverified epoch closed kLagMs ago (a lost note, a restart, an initiator
//     that cannot reach everyone). The initiator of a partition is its first owner that gossip says
//     is alive, so each replica pair is compared once per epoch, not once per side;
//   - a late write stamped with a closed, verified epoch (hint, read repair, repair, stream) marks
//     that pair dirty on the replica that took it, which then compares it itself, dirty first;
//   - a member coming back alive queues the partitions it shares with this node;
//   - every full_sweep_interval_s, and on repair_now() (POST /v1/admin/repair), a full sweep
//     compares whole partitions (every epoch), catching divergence no mark recorded.
// Tombstones are collected (deleted for good) only in epochs this node's ledger has verified on
// every replica, and only once every entry of the epoch is older than tombstone_grace_s: every
// replica then holds the tombstone, none an older value it could bring back.
// For one partition a job asks every alive peer for the epoch roots of a range of pending epochs
// (kSummary), marks the epochs equal on every owner verified (and tells the peers), and runs an
// Exchange per (peer, differing epoch). A pair is only verified when every owner answered.
//
// Limits: exchanges_max jobs at once; every request and reply is charged to one byte budget
// (max_bytes_per_s) that paces the next request; answering peers is bounded to answers_max at
// once (Busy beyond, which the asking exchange retries).
//
// Thread-safety: the scheduler and ledger live on one strand; handle() may run on any thread and
// answers data requests on the io_context's threads; status() may be called from any thread.
// Lifetime: stop(), then drain the io_context.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "antientropy/exchange.h"
#include "antientropy/repair_ledger.h"
#include "antientropy/store_data.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/rate_limiter.h"
#include "engines/store.h"
#include "membership/membership.h"
#include "net/transport.h"

namespace chorus {

struct AntiEntropyOptions {
  std::string self_id;
  uint32_t partitions = 256;
  size_t leaves = kMerkleLeavesDefault;
  // 8 MiB/s repairs a node's missed hour of heavy writes in minutes while leaving the disk and the
  // link to foreground traffic.
  uint64_t max_bytes_per_s = 8 << 20;
  size_t exchanges_max = 2;
  size_t answers_max = 16;
  uint64_t full_sweep_interval_s = 24 * 3600;
  // Tombstones older than this are collected once their epoch is verified on every replica. It
  // must exceed how long any late copy of an older version can still arrive (hints, a node kept
  // down), as in Cassandra's gc_grace_seconds. 0 keeps tombstones forever.
  uint64_t tombstone_grace_s = 10 * 24 * 3600;
  // Index entries one collection pass examines, so a pass never holds the strand for long.
  size_t collect_entries_per_pass = 100'000;
  uint64_t poll_interval_ms = 500;
  // An epoch is compared this long after the next one began: the coordinators' request deadline
  // (2 s) plus margin, so writes stamped with it have landed.
  uint64_t settle_ms = 2500;
  uint64_t rpc_timeout_ms = 10'000;
  uint64_t retry_delay_ms = 500;
  int attempts_max = 4;
};

struct RepairStatus {
  struct Partition {
    uint32_t partition = 0;
    std::optional<uint64_t> verified_through;
    size_t dirty = 0;
    uint64_t unverified = 0;
    bool initiator = false;
  };
  struct InFlight {
    uint32_t partition = 0;
    bool sweep = false;
    uint64_t epoch = 0;  // kAllEpochs in a sweep
    std::string peer;
    std::string phase;  // summary, or an Exchange phase
    uint64_t running_ms = 0;
  };
  std::optional<uint64_t> closed_through;
  std::vector<Partition> partitions;  // those this node replicates
  std::vector<InFlight> in_flight;
  size_t queued = 0;
  uint64_t exchanges = 0;
  uint64_t keys_repaired = 0;
  uint64_t converge_ms = 0;
};

class AntiEntropyService {
 public:
  AntiEntropyService(boost::asio::io_context& io, Membership* membership, Transport* transport,
                     Store* store, const Clock* clock, AntiEntropyOptions options,
                     MetricsRegistry* metrics);
  ~AntiEntropyService();
  AntiEntropyService(const AntiEntropyService&) = delete;
  AntiEntropyService& operator=(const AntiEntropyService&) = delete;

  // Loads the ledger (Corruption names a damaged partition entry) and starts watching the Store's
  // writes. Call once, before start() and before the Store takes writes.
  Status open();
  void start();
  void stop();

  // Transport handler for RpcMethod::kAntiEntropy.
  void handle(std::string payload, const Responder& respond);
  // Queues a full sweep of every partition this node replicates, with every alive peer.
  void repair_now();
  RepairStatus status() const;

 private:
  struct Task {
    uint32_t partition = 0;
    bool sweep = false;
  };
  struct Job;

  void schedule_poll();
  void poll();
  void enqueue(Task task);
  void dispatch();
  void start_job(const Task& task);
  void summary_next(const std::shared_ptr<Job>& job);
  void summary_reply(const std::shared_ptr<Job>& job, Result<std::string> reply);
  void evaluate(const std::shared_ptr<Job>& job);
  void exchange_next(const std::shared_ptr<Job>& job);
  void exchange_send(const std::shared_ptr<Job>& job);
  void exchange_reply(const std::shared_ptr<Job>& job, uint64_t id, Result<std::string> reply);
  void finish_job(const std::shared_ptr<Job>& job);
  // Runs fn on the strand once the byte budget allows the next request.
  void paced(const std::shared_ptr<Job>& job, uint64_t delay_ms, std::function<void()> fn);
  void charge(size_t bytes);
  // Collects tombstones past their grace in verified epochs, a bounded amount per call.
  void collect_tombstones(const Ring& ring, size_t self);
  void persist(uint32_t partition);
  void flush_ledger();
  void publish_status();
  void mark_dirty(uint32_t partition, uint64_t epoch);
  void on_verified(uint32_t partition, const std::vector<EpochRoot>& roots);
  void drain_late_marks();
  bool is_initiator(const ClusterView& view, uint32_t partition, size_t self) const;

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer poll_timer_;
  Membership* membership_;
  Transport* transport_;
  Store* store_;
  const Clock* clock_;
  AntiEntropyOptions options_;
  StoreReplicaData data_;
  std::atomic<bool> stopped_{false};
  // Highest closed epoch, read by the Store observer on writer threads; -1 before any.
  std::atomic<int64_t> closed_epoch_{-1};
  std::atomic<size_t> answering_{0};

  // Strand state.
  RepairLedger ledger_;
  std::set<uint32_t> unsaved_;  // partitions whose ledger changed since the last flush
  std::deque<Task> queue_;
  std::set<std::pair<uint32_t, bool>> queued_;
  std::vector<std::shared_ptr<Job>> running_;
  std::shared_ptr<const Ring> owners_ring_;  // the ring the ledger's owner hashes were taken from
  std::vector<uint64_t> late_writes_;        // per partition: late writes into closed epochs seen
  // kVerified notes for epochs not closed here yet.
  std::vector<std::pair<uint32_t, std::vector<EpochRoot>>> deferred_notes_;
  uint64_t saved_closed_ = UINT64_MAX;          // the closed epoch last saved
  std::map<uint64_t, uint64_t> closed_at_ms_;   // recent epochs, when this node closed them
  std::map<uint64_t, uint64_t> epoch_seen_ms_;  // recent epochs, when this node first saw them
  uint64_t started_ms_ = 0;
  uint64_t next_collect_ms_ = 0;
  uint64_t next_sweep_ms_ = 0;
  RateLimiter traffic_{options_.max_bytes_per_s, 0, clock_->steady_ms()};  // a pacer, no burst
  uint64_t converge_ms_ = 0;

  // Late writes reported by the Store observer (writer threads), drained by the strand.
  std::mutex late_mu_;  // guards late_marks_ and late_drain_posted_ only
  std::set<std::pair<uint32_t, uint64_t>> late_marks_;
  bool late_drain_posted_ = false;

  mutable std::mutex status_mu_;  // guards status_ only; never held across calls
  RepairStatus status_;

  Counter* trees_built_;
  Counter* summaries_;
  Counter* exchanges_ok_;
  Counter* exchanges_failed_;
  Counter* buckets_compared_;
  Counter* buckets_differing_;
  Counter* keys_repaired_;
  Counter* bytes_repaired_;
  Counter* record_bytes_;
  Counter* bytes_;
  Counter* epochs_verified_;
  Counter* epochs_dirtied_;
  Counter* sweeps_;
  Counter* tombstones_collected_;
  Gauge* dirty_gauge_;
  Gauge* unverified_gauge_;
  Gauge* in_flight_gauge_;
  Gauge* converge_gauge_;
};

}  // namespace chorus
