#include "antientropy/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include <xxhash.h>

#include "core/coding.h"
#include "core/rpc_methods.h"

namespace chorus {

namespace asio = boost::asio;

namespace {

// Closing times kept for the converge gauge: far more epochs than a repair ever lags behind.
constexpr size_t kClosedEpochsRemembered = 256;
// kVerified notes kept until their epochs close here (each is a few hundred bytes).
constexpr size_t kDeferredNotesMax = 4096;
// How often tombstone collection runs (each pass bounded by collect_entries_per_pass).
constexpr uint64_t kCollectIntervalMs = 5'000;
// A replica that is not a partition's initiator compares it itself once its oldest unverified
// epoch closed this long ago (or, for epochs closed before this node started, this long after the
// start): long enough that the initiator would have verified it and told us.
constexpr uint64_t kLagMs = 10'000;

std::string ledger_key(uint32_t partition) {
  std::string key(1, kRepairKeyspace);
  put_big_endian32(&key, partition);
  return key;
}

// Where the highest closed epoch is saved (shorter than any partition key of the keyspace).
std::string closed_key() {
  return std::string(1, kRepairKeyspace) + "C";
}

// Stable across restarts and member re-indexing: the sorted owner ids.
uint64_t owners_hash(const Ring& ring, uint32_t partition) {
  std::vector<std::string> ids;
  for (uint32_t owner : ring.owners(partition)) ids.push_back(ring.members()[owner].id);
  std::sort(ids.begin(), ids.end());
  std::string joined;
  for (const std::string& id : ids) joined += id + '\n';
  const uint64_t h = XXH3_64bits(joined.data(), joined.size());
  return h == 0 ? 1 : h;  // 0 means "not recorded" in the ledger
}

// Leaves for a tree of `entries` index entries: at least `minimum`, and about 64 keys per bucket
// beyond, so the key lists of a differing bucket stay small whatever the partition size.
size_t leaves_for(uint64_t entries, size_t minimum) {
  size_t leaves = minimum;
  while (leaves < kMerkleLeavesMax && leaves * 64 < entries) leaves *= 2;
  return leaves;
}

}  // namespace

struct AntiEntropyService::Job {
  explicit Job(asio::strand<asio::io_context::executor_type>& strand) : timer(strand) {}

  struct Peer {
    std::string id;
    std::string address;
    bool answered = false;
  };

  Task task;
  std::vector<Peer> peers;        // alive owners other than this node
  bool all_owners_alive = false;  // every owner is in `peers` (or is this node)
  EpochRange range;
  std::map<uint64_t, EpochRoot> local_roots;
  uint64_t owners_hash = 0;        // the replica set the job compares
  uint64_t late_writes_start = 0;  // late_writes_[partition] when the local roots were read
  std::set<uint64_t> differing;
  std::vector<std::pair<size_t, uint64_t>> todo;                   // (peer, epoch) exchanges to run
  std::map<std::pair<size_t, uint64_t>, uint64_t> remote_entries;  // from the summaries
  size_t cursor = 0;                                               // into peers, then into todo
  size_t leaves = kMerkleLeavesDefault;
  std::unique_ptr<Exchange> exchange;
  size_t exchange_peer = 0;
  uint64_t started_ms = 0;
  bool repaired = false;
  bool failed = false;
  asio::steady_timer timer;
};

AntiEntropyService::AntiEntropyService(asio::io_context& io, Membership* membership,
                                       Transport* transport, Store* store, const Clock* clock,
                                       AntiEntropyOptions options, MetricsRegistry* metrics)
    : io_(io),
      strand_(asio::make_strand(io)),
      poll_timer_(strand_),
      membership_(membership),
      transport_(transport),
      store_(store),
      clock_(clock),
      options_(std::move(options)),
      data_(store, options_.partitions),
      ledger_(options_.partitions),
      late_writes_(options_.partitions, 0) {
  trees_built_ = metrics->counter("chorus_aae_trees_built_total",
                                  "Merkle trees built, for this node's exchanges and for peers");
  summaries_ = metrics->counter("chorus_aae_summaries_total",
                                "Epoch-root summaries asked of peers (one per partition range)");
  exchanges_ok_ = metrics->counter("chorus_aae_exchanges_total",
                                   "Tree exchanges this node initiated", "result=\"ok\"");
  exchanges_failed_ = metrics->counter("chorus_aae_exchanges_total",
                                       "Tree exchanges this node initiated", "result=\"failed\"");
  buckets_compared_ = metrics->counter("chorus_aae_buckets_compared_total",
                                       "Leaf buckets covered by this node's tree comparisons");
  buckets_differing_ =
      metrics->counter("chorus_aae_buckets_differing_total",
                       "Leaf buckets found differing, whose key lists were swapped");
  keys_repaired_ = metrics->counter("chorus_aae_keys_repaired_total",
                                    "Records anti-entropy stored here because they were newer");
  bytes_repaired_ = metrics->counter("chorus_aae_bytes_repaired_total",
                                     "Bytes (key + record) of the records counted above");
  record_bytes_ =
      metrics->counter("chorus_aae_record_bytes_total",
                       "Record bytes moved, either way, by exchanges this node initiated");
  bytes_ = metrics->counter("chorus_aae_bytes_total",
                            "Request and reply bytes of everything this node initiated "
                            "(summaries, hashes, key lists, records)");
  epochs_verified_ = metrics->counter("chorus_aae_epochs_verified_total",
                                      "(partition, epoch) pairs found equal on every replica");
  epochs_dirtied_ = metrics->counter("chorus_aae_epochs_dirtied_total",
                                     "Verified (partition, epoch) pairs written late since");
  sweeps_ = metrics->counter("chorus_aae_full_sweeps_total", "Full-partition sweep jobs run");
  tombstones_collected_ = metrics->counter(
      "chorus_aae_tombstones_collected_total",
      "Tombstones past their grace period deleted from epochs verified on every replica");
  dirty_gauge_ = metrics->gauge("chorus_aae_epochs_dirty",
                                "Dirty (partition, epoch) pairs of partitions replicated here");
  unverified_gauge_ = metrics->gauge(
      "chorus_aae_epochs_unverified",
      "Closed, not yet verified (partition, epoch) pairs of partitions replicated here");
  in_flight_gauge_ = metrics->gauge("chorus_aae_jobs_in_flight", "Partition repair jobs running");
  converge_gauge_ = metrics->gauge(
      "chorus_aae_converge_ms",
      "From an epoch's close to its latest verification here, for the last epoch verified");
}

AntiEntropyService::~AntiEntropyService() = default;

Status AntiEntropyService::open() {
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    std::string bytes;
    const Status s = store_->engine()->get(ledger_key(p), &bytes);
    if (s.is_not_found()) continue;
    CHORUS_RETURN_IF_ERROR(s);
    CHORUS_RETURN_IF_ERROR(ledger_.decode(p, bytes));
  }
  std::string closed;
  const Status s = store_->engine()->get(closed_key(), &closed);
  if (s.ok()) {
    if (closed.size() != 8) return Status::Corruption("anti-entropy: malformed closed epoch");
    ledger_.close_through(decode_fixed64(closed.data()));
    closed_epoch_.store(static_cast<int64_t>(ledger_.closed_through()));
  } else if (!s.is_not_found()) {
    return s;
  }
  store_->set_apply_observer([this](uint32_t partition, uint64_t epoch) {
    // Writes stamped with the open epoch are the common case and cost one atomic load.
    if (static_cast<int64_t>(epoch) > closed_epoch_.load(std::memory_order_relaxed)) return;
    // Late writes come in bursts (hint replay, streaming, repair): they are collected here and
    // the strand drains them in one handler, so its queue does not grow with the burst.
    std::lock_guard<std::mutex> lock(late_mu_);
    late_marks_.insert({partition, epoch});
    if (late_drain_posted_) return;
    late_drain_posted_ = true;
    asio::post(strand_, [this] { drain_late_marks(); });
  });
  return Status::OK();
}

void AntiEntropyService::start() {
  started_ms_ = clock_->steady_ms();
  next_sweep_ms_ = started_ms_ + options_.full_sweep_interval_s * 1000;
  membership_->on_member_alive([this](const std::string& id) {
    asio::post(strand_, [this, id] {
      auto view = membership_->view();
      if (!view->formed()) return;
      const auto self = view->ring->index_of(options_.self_id);
      const auto back = view->ring->index_of(id);
      if (!self || !back) return;
      // The partitions shared with the member that came back: whatever it missed is compared now
      // rather than at the next epoch.
      for (uint32_t p : view->ring->partitions_replicated_by(*back)) {
        if (is_initiator(*view, p, *self)) enqueue({p, false});
      }
      dispatch();
    });
  });
  asio::post(strand_, [this] { poll(); });
}

void AntiEntropyService::stop() {
  stopped_ = true;
  asio::post(strand_, [this] {
    poll_timer_.cancel();
    for (auto& job : running_) job->timer.cancel();
    flush_ledger();
  });
}

bool AntiEntropyService::is_initiator(const ClusterView& view, uint32_t partition,
                                      size_t self) const {
  for (uint32_t owner : view.ring->owners(partition)) {
    if (owner == self) return true;
    if (view.alive(owner)) return false;
  }
  return false;
}

void AntiEntropyService::schedule_poll() {
  if (stopped_) return;
  poll_timer_.expires_after(std::chrono::milliseconds(options_.poll_interval_ms));
  poll_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) poll();
  });
}

void AntiEntropyService::poll() {
  if (stopped_) return;
  auto view = membership_->view();
  if (view->formed()) {
    const Ring& ring = *view->ring;
    const auto self = ring.index_of(options_.self_id);
    const uint64_t epoch = ring.epoch();
    const uint64_t now = clock_->steady_ms();
    if (self && ring.partitions() == options_.partitions) {
      // A changed replica set (also one that changed while this node was down): the new owner
      // was never compared with anyone.
      if (view->ring != owners_ring_) {  // a new ring snapshot: the owners may have changed
        owners_ring_ = view->ring;
        for (uint32_t p = 0; p < options_.partitions; ++p) {
          const uint64_t before = ledger_.owners(p);
          ledger_.set_owners(p, owners_hash(ring, p));
          if (ledger_.owners(p) != before) unsaved_.insert(p);
        }
      }
      // Epoch E closes settle_ms after E+1 was first seen here: writes coordinated in E are
      // still landing on their replicas until their deadline passes, and comparing E before that
      // would find (and ship) differences that are only in flight.
      if (epoch_seen_ms_.empty() || epoch_seen_ms_.rbegin()->first < epoch) {
        epoch_seen_ms_[epoch] = now;
        while (epoch_seen_ms_.size() > kClosedEpochsRemembered) {
          epoch_seen_ms_.erase(epoch_seen_ms_.begin());
        }
      }
      uint64_t closable = 0;
      for (const auto& [seen, at_ms] : epoch_seen_ms_) {
        if (seen >= 1 && now >= at_ms + options_.settle_ms) closable = seen;
      }
      const bool first_close = closed_epoch_.load() < 0;
      if (closable >= 1 && (first_close || closable - 1 > ledger_.closed_through())) {
        const uint64_t closed = closable - 1;
        ledger_.close_through(closed);
        closed_epoch_.store(static_cast<int64_t>(closed));
        std::vector<std::pair<uint32_t, std::vector<EpochRoot>>> notes;
        notes.swap(deferred_notes_);
        for (const auto& [partition, roots] : notes) on_verified(partition, roots);
        closed_at_ms_[closed] = now;
        while (closed_at_ms_.size() > kClosedEpochsRemembered) {
          closed_at_ms_.erase(closed_at_ms_.begin());
        }
        for (uint32_t p : ring.partitions_replicated_by(*self)) {
          // Besides the initiator's own partitions: dirty ones, and ones whose oldest unverified
          // epoch is well behind (the initiator's note was lost, or this node restarted before
          // saving it, or the initiator cannot reach everyone): this node compares those itself.
          const auto pending = ledger_.next_range(p, 1);
          bool lagging = false;
          if (pending) {
            auto closed_at = closed_at_ms_.find(pending->first);
            const uint64_t since =
                closed_at != closed_at_ms_.end() ? closed_at->second : started_ms_;
            lagging = now >= since + options_.settle_ms + kLagMs;
          }
          if (is_initiator(*view, p, *self) || ledger_.dirty_count(p) > 0 || lagging) {
            enqueue({p, false});
          }
        }
      }
      if (options_.tombstone_grace_s > 0 && now >= next_collect_ms_) {
        next_collect_ms_ = now + kCollectIntervalMs;
        collect_tombstones(ring, *self);
      }
      if (now >= next_sweep_ms_) {
        next_sweep_ms_ = now + options_.full_sweep_interval_s * 1000;
        for (uint32_t p : ring.partitions_replicated_by(*self)) {
          if (is_initiator(*view, p, *self)) enqueue({p, true});
        }
      }
    }
  }
  flush_ledger();
  dispatch();
  publish_status();
  schedule_poll();
}

void AntiEntropyService::collect_tombstones(const Ring& ring, size_t self) {
  const uint64_t wall_ms = clock_->wall_ms();
  const uint64_t grace_ms = options_.tombstone_grace_s * 1000;
  if (wall_ms <= grace_ms) return;
  const uint64_t horizon_ms = wall_ms - grace_ms;
  size_t budget = options_.collect_entries_per_pass;
  for (uint32_t p : ring.partitions_replicated_by(self)) {
    const auto verified = ledger_.verified_through(p);
    if (!verified) continue;
    for (uint64_t e = ledger_.collected_below(p); e <= *verified && budget > 0; ++e) {
      std::vector<std::pair<std::string, uint64_t>> entries;  // key, digest
      bool young = false;
      const Status s =
          data_.scan(p, e, e, [&](uint64_t, std::string_view key, Timestamp ts, uint64_t d) {
            if (ts.physical_ms() >= horizon_ms) {
              young = true;
              return false;
            }
            entries.emplace_back(std::string(key), d);
            return true;
          });
      if (!s.ok()) {
        spdlog::error("anti-entropy: tombstone collection in partition {}: {}", p, s.to_string());
        return;
      }
      // Epochs only get newer: once one still has an entry inside the grace period, so may
      // every later one.
      if (young) break;
      // Over budget: the next pass, with a fresh budget; unless this is the pass's first epoch,
      // which goes through whatever its size, or an epoch bigger than a budget would stop
      // collection for good.
      const bool fresh = budget == options_.collect_entries_per_pass;
      if (entries.size() > budget && !fresh) return;
      budget -= std::min(budget, entries.size());
      for (const auto& [key, digest] : entries) {
        // collect_tombstone() reads the key under its lock and leaves anything but that
        // tombstone alone.
        auto collected = store_->collect_tombstone(key, p, digest);
        if (collected.ok() && collected.value()) tombstones_collected_->inc();
      }
      ledger_.set_collected_below(p, e + 1);
      unsaved_.insert(p);
    }
  }
}

void AntiEntropyService::enqueue(Task task) {
  if (!queued_.insert({task.partition, task.sweep}).second) return;
  queue_.push_back(task);
}

void AntiEntropyService::repair_now() {
  asio::post(strand_, [this] {
    auto view = membership_->view();
    if (!view->formed()) return;
    const auto self = view->ring->index_of(options_.self_id);
    if (!self) return;
    for (uint32_t p : view->ring->partitions_replicated_by(*self)) enqueue({p, true});
    spdlog::info("anti-entropy: full sweep of {} partitions requested", queue_.size());
    dispatch();
    publish_status();
  });
}

void AntiEntropyService::dispatch() {
  while (!stopped_ && running_.size() < options_.exchanges_max && !queue_.empty()) {
    const Task task = queue_.front();
    queue_.pop_front();
    queued_.erase({task.partition, task.sweep});
    start_job(task);
  }
  in_flight_gauge_->set(static_cast<int64_t>(running_.size()));
}

void AntiEntropyService::start_job(const Task& task) {
  auto view = membership_->view();
  if (!view->formed() || task.partition >= view->ring->partitions()) return;
  const Ring& ring = *view->ring;
  const auto self = ring.index_of(options_.self_id);
  if (!self) return;
  const auto& owners = ring.owners(task.partition);
  if (std::find(owners.begin(), owners.end(), *self) == owners.end()) return;

  auto job = std::make_shared<Job>(strand_);
  job->task = task;
  job->started_ms = clock_->steady_ms();
  job->all_owners_alive = true;
  for (uint32_t owner : owners) {
    if (owner == *self) continue;
    if (!view->alive(owner)) {
      job->all_owners_alive = false;
      continue;
    }
    const Member& m = ring.members()[owner];
    job->peers.push_back({m.id, m.peer_address, false});
  }
  if (task.sweep) {
    uint64_t entries = 0;
    const Status s = data_.scan(task.partition, 0, kAllEpochs,
                                [&entries](uint64_t, std::string_view, Timestamp, uint64_t) {
                                  ++entries;
                                  return true;
                                });
    if (!s.ok()) {
      spdlog::error("anti-entropy: cannot scan partition {}: {}", task.partition, s.to_string());
      return;
    }
    job->leaves = leaves_for(entries, options_.leaves);
    for (size_t i = 0; i < job->peers.size(); ++i) job->todo.push_back({i, kAllEpochs});
    sweeps_->inc();
    running_.push_back(job);
    exchange_next(job);
    return;
  }
  const auto range = ledger_.next_range(task.partition, kSummaryEpochsMax);
  if (!range) return;
  job->range = *range;
  job->leaves = options_.leaves;
  auto roots = epoch_roots(&data_, task.partition, range->first, range->last, job->leaves);
  if (!roots.ok()) {
    spdlog::error("anti-entropy: cannot read partition {}: {}", task.partition,
                  roots.status().to_string());
    return;
  }
  trees_built_->inc(roots.value().size());
  for (const EpochRoot& r : roots.value()) job->local_roots[r.epoch] = r;
  job->owners_hash = owners_hash(ring, task.partition);
  job->late_writes_start = late_writes_[task.partition];
  running_.push_back(job);
  summary_next(job);
}

void AntiEntropyService::summary_next(const std::shared_ptr<Job>& job) {
  if (stopped_) return;
  if (job->cursor == job->peers.size()) return evaluate(job);
  AaeRequest request;
  request.op = AaeOp::kSummary;
  request.partition = job->task.partition;
  request.epoch = job->range.first;
  request.epoch_last = job->range.last;
  request.leaves = static_cast<uint32_t>(job->leaves);
  std::string bytes = encode_aae_request(request);
  paced(job, 0, [this, job, bytes = std::move(bytes)]() mutable {
    charge(bytes.size());
    summaries_->inc();
    transport_->call(job->peers[job->cursor].address, method_id(RpcMethod::kAntiEntropy),
                     std::move(bytes), options_.rpc_timeout_ms,
                     [this, job](Result<std::string> reply) {
                       asio::post(strand_, [this, job, reply = std::move(reply)]() mutable {
                         summary_reply(job, std::move(reply));
                       });
                     });
  });
}

void AntiEntropyService::summary_reply(const std::shared_ptr<Job>& job, Result<std::string> reply) {
  Job::Peer& peer = job->peers[job->cursor];
  AaeReply decoded;
  Status s = reply.status();
  if (s.ok()) {
    charge(reply.value().size());
    s = decode_aae_reply(AaeOp::kSummary, reply.value(), &decoded);
  }
  if (!s.ok()) {
    spdlog::warn("anti-entropy: summary of partition {} from {}: {}", job->task.partition, peer.id,
                 s.to_string());
  } else {
    peer.answered = true;
    std::map<uint64_t, EpochRoot> remote;
    for (const EpochRoot& r : decoded.roots) {
      if (r.epoch >= job->range.first && r.epoch <= job->range.last) remote[r.epoch] = r;
    }
    // An epoch differs when either side has a tree the other lacks or the roots differ.
    std::set<uint64_t> epochs;
    for (const auto& [e, root] : job->local_roots) {
      auto it = remote.find(e);
      if (it == remote.end() || it->second.root != root.root) epochs.insert(e);
    }
    for (const auto& [e, root] : remote) {
      if (job->local_roots.count(e) == 0) epochs.insert(e);
    }
    for (uint64_t e : epochs) {
      job->differing.insert(e);
      job->todo.push_back({job->cursor, e});
      auto it = remote.find(e);
      job->remote_entries[{job->cursor, e}] = it == remote.end() ? 0 : it->second.entries;
    }
  }
  ++job->cursor;
  summary_next(job);
}

void AntiEntropyService::evaluate(const std::shared_ptr<Job>& job) {
  const uint32_t p = job->task.partition;
  bool all_answered = job->all_owners_alive;
  for (const auto& peer : job->peers) all_answered = all_answered && peer.answered;
  // Verified means equal on the replicas compared, as they were read: not if a late write landed
  // here since the local roots were read (its epoch may differ now), and not if the replica set
  // changed meanwhile (the new owner was not among them).
  auto view = membership_->view();
  const bool same_owners = view->formed() && p < view->ring->partitions() &&
                           owners_hash(*view->ring, p) == job->owners_hash &&
                           ledger_.owners(p) == job->owners_hash;
  const bool quiet = late_writes_[p] == job->late_writes_start;
  if (!quiet) job->repaired = true;  // compare again once the late writes are in
  std::vector<EpochRoot> verified;
  if (all_answered && same_owners && quiet) {
    const uint64_t now = clock_->steady_ms();
    for (uint64_t e = job->range.first; e <= job->range.last; ++e) {
      if (!ledger_.pending(p, e) || job->differing.count(e) > 0) continue;
      ledger_.mark_verified(p, e);
      auto local = job->local_roots.find(e);
      verified.push_back(local != job->local_roots.end() ? local->second : EpochRoot{e, 0, {}});
      auto closed = closed_at_ms_.find(e);
      if (closed != closed_at_ms_.end()) {
        converge_ms_ = now - closed->second;
        converge_gauge_->set(static_cast<int64_t>(converge_ms_));
      }
      if (e == job->range.last) break;  // the range may end at UINT64_MAX
    }
  }
  if (!verified.empty()) {
    epochs_verified_->inc(verified.size());
    unsaved_.insert(p);
    AaeRequest note;
    note.op = AaeOp::kVerified;
    note.partition = p;
    note.roots = std::move(verified);
    const std::string bytes = encode_aae_request(note);
    for (const auto& peer : job->peers) {
      charge(bytes.size());
      // Bookkeeping only: a lost note leaves the peer comparing again, never wrong.
      transport_->call(peer.address, method_id(RpcMethod::kAntiEntropy), bytes,
                       options_.rpc_timeout_ms, [](Result<std::string>) {});
    }
  }
  // Newest epochs first: a key rewritten later moves out of its older epoch's tree when the newer
  // version arrives, so the older epoch then compares equal instead of shipping a stale version.
  std::stable_sort(job->todo.begin(), job->todo.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  job->cursor = 0;
  exchange_next(job);
}

void AntiEntropyService::exchange_next(const std::shared_ptr<Job>& job) {
  if (stopped_) return;
  if (job->cursor == job->todo.size()) return finish_job(job);
  const auto [peer, epoch] = job->todo[job->cursor++];
  ExchangeOptions options;
  options.partition = job->task.partition;
  options.epoch = epoch;
  options.leaves = job->leaves;
  options.attempts_max = options_.attempts_max;
  auto entries = job->remote_entries.find({peer, epoch});
  if (entries != job->remote_entries.end()) {
    options.remote_entries = entries->second;
    // A large partition-epoch gets more leaves, so no bucket's key list outgrows a message.
    auto local = job->local_roots.find(epoch);
    const uint64_t most =
        std::max(entries->second, local != job->local_roots.end() ? local->second.entries : 0);
    options.leaves = leaves_for(most, job->leaves);
  }
  job->exchange = std::make_unique<Exchange>(options, &data_);
  job->exchange_peer = peer;
  const Status s = job->exchange->start();
  trees_built_->inc();
  if (!s.ok()) {
    spdlog::error("anti-entropy: partition {} epoch {}: {}", job->task.partition, epoch,
                  s.to_string());
    exchanges_failed_->inc();
    job->failed = true;
    return exchange_next(job);
  }
  exchange_send(job);
}

void AntiEntropyService::exchange_send(const std::shared_ptr<Job>& job) {
  paced(job, 0, [this, job] {
    const uint64_t id = job->exchange->request_id();
    std::string bytes = job->exchange->request();
    charge(bytes.size());
    transport_->call(job->peers[job->exchange_peer].address, method_id(RpcMethod::kAntiEntropy),
                     std::move(bytes), options_.rpc_timeout_ms,
                     [this, job, id](Result<std::string> reply) {
                       asio::post(strand_, [this, job, id, reply = std::move(reply)]() mutable {
                         exchange_reply(job, id, std::move(reply));
                       });
                     });
  });
}

void AntiEntropyService::exchange_reply(const std::shared_ptr<Job>& job, uint64_t id,
                                        Result<std::string> reply) {
  if (stopped_) return;
  Exchange& exchange = *job->exchange;
  const bool failed_attempt = !reply.ok();
  if (reply.ok()) charge(reply.value().size());
  const ExchangeStats before = exchange.stats();
  if (!exchange.on_reply(id, std::move(reply))) return;  // a stale reply: nothing changed
  const ExchangeStats& after = exchange.stats();
  keys_repaired_->inc(after.records_applied - before.records_applied);
  bytes_repaired_->inc(after.record_bytes_applied - before.record_bytes_applied);
  if (!exchange.done()) {
    if (failed_attempt) {
      // The peer failed or timed out: give it a moment before the same request again.
      return paced(job, options_.retry_delay_ms, [this, job] { exchange_send(job); });
    }
    return exchange_send(job);
  }
  const ExchangeStats& stats = exchange.stats();
  buckets_compared_->inc(exchange.options().leaves);
  buckets_differing_->inc(stats.buckets_differing);
  record_bytes_->inc(stats.record_bytes);
  if (stats.records_applied + stats.remote_applied > 0) job->repaired = true;
  if (exchange.status().ok()) {
    exchanges_ok_->inc();
    if (stats.keys_fetched + stats.keys_pushed > 0) {
      spdlog::info(
          "anti-entropy: partition {} epoch {} with {}: {} buckets differed, fetched {} pushed {} "
          "records ({} bytes)",
          job->task.partition,
          exchange.options().epoch == kAllEpochs ? std::string("all")
                                                 : std::to_string(exchange.options().epoch),
          job->peers[job->exchange_peer].id, stats.buckets_differing, stats.keys_fetched,
          stats.keys_pushed, stats.record_bytes);
    }
  } else {
    exchanges_failed_->inc();
    job->failed = true;
    spdlog::warn("anti-entropy: exchange of partition {} with {} failed: {}", job->task.partition,
                 job->peers[job->exchange_peer].id, exchange.status().to_string());
  }
  exchange_next(job);
}

void AntiEntropyService::finish_job(const std::shared_ptr<Job>& job) {
  running_.erase(std::remove(running_.begin(), running_.end(), job), running_.end());
  const uint32_t p = job->task.partition;
  // Compare again at once when this job repaired something (to verify it) or stopped at the end
  // of a range with more pending epochs after it; a failed or unreachable peer waits for the next
  // trigger instead of spinning.
  if (!job->task.sweep && !job->failed) {
    const auto next = ledger_.next_range(p, kSummaryEpochsMax);
    const bool more = next && (next->first > job->range.last || job->repaired);
    if (more && job->all_owners_alive) enqueue({p, false});
  }
  dispatch();
  publish_status();
}

void AntiEntropyService::paced(const std::shared_ptr<Job>& job, uint64_t delay_ms,
                               std::function<void()> fn) {
  const uint64_t now = clock_->steady_ms();
  const uint64_t at = now + std::max(delay_ms, traffic_.wait_ms(now));
  if (at <= now) return fn();
  job->timer.expires_after(std::chrono::milliseconds(at - now));
  job->timer.async_wait([this, fn = std::move(fn)](boost::system::error_code ec) {
    if (!ec && !stopped_) fn();
  });
}

void AntiEntropyService::charge(size_t bytes) {
  bytes_->inc(bytes);
  traffic_.spend(bytes, clock_->steady_ms());
}

void AntiEntropyService::drain_late_marks() {
  std::set<std::pair<uint32_t, uint64_t>> marks;
  {
    std::lock_guard<std::mutex> lock(late_mu_);
    marks.swap(late_marks_);
    late_drain_posted_ = false;
  }
  for (const auto& [partition, epoch] : marks) mark_dirty(partition, epoch);
}

void AntiEntropyService::mark_dirty(uint32_t partition, uint64_t epoch) {
  if (partition >= ledger_.partitions()) return;
  if (epoch <= ledger_.closed_through()) ++late_writes_[partition];
  if (!ledger_.mark_dirty(partition, epoch)) return;
  epochs_dirtied_->inc();
  unsaved_.insert(partition);
  enqueue({partition, false});
}

void AntiEntropyService::on_verified(uint32_t partition, const std::vector<EpochRoot>& roots) {
  if (partition >= ledger_.partitions() || roots.empty()) return;
  uint64_t first = UINT64_MAX;
  uint64_t last = 0;
  for (const EpochRoot& r : roots) {
    first = std::min(first, r.epoch);
    last = std::max(last, r.epoch);
  }
  if (last - first >= kSummaryEpochsMax) return;
  if (closed_epoch_.load() < 0 || last > ledger_.closed_through()) {
    // The initiator closed the epoch before this node did (each closes settle_ms after it saw
    // the next epoch): keep the note until it closes here too.
    if (deferred_notes_.size() < kDeferredNotesMax) deferred_notes_.push_back({partition, roots});
    return;
  }
  auto mine = epoch_roots(&data_, partition, first, last, options_.leaves);
  if (!mine.ok()) return;
  std::map<uint64_t, EpochRoot> local;
  for (const EpochRoot& r : mine.value()) local[r.epoch] = r;
  for (const EpochRoot& r : roots) {
    // Accepted only while this replica still holds what the initiator found everywhere: a late
    // write taken here after it answered changed its root (and its dirty mark stays).
    auto it = local.find(r.epoch);
    const bool same = it == local.end() ? r.entries == 0 : it->second.root == r.root;
    if (same && !ledger_.dirty(partition, r.epoch)) ledger_.mark_verified(partition, r.epoch);
  }
  unsaved_.insert(partition);
}

void AntiEntropyService::persist(uint32_t partition) {
  WriteBatch batch;
  batch.put(ledger_key(partition), ledger_.encode(partition));
  const Status s = store_->engine()->write(batch, /*sync=*/false);
  if (!s.ok()) {
    spdlog::error("anti-entropy: cannot save the ledger of partition {}: {}", partition,
                  s.to_string());
  }
}

void AntiEntropyService::flush_ledger() {
  for (uint32_t p : unsaved_) persist(p);
  unsaved_.clear();
  if (closed_epoch_.load() >= 0 && saved_closed_ != ledger_.closed_through()) {
    WriteBatch batch;
    std::string value;
    put_fixed64(&value, ledger_.closed_through());
    batch.put(closed_key(), value);
    if (store_->engine()->write(batch, /*sync=*/false).ok())
      saved_closed_ = ledger_.closed_through();
  }
}

void AntiEntropyService::publish_status() {
  RepairStatus status;
  auto view = membership_->view();
  int64_t dirty = 0;
  int64_t unverified = 0;
  if (closed_epoch_.load() >= 0) status.closed_through = ledger_.closed_through();
  if (view->formed() && view->ring->partitions() == options_.partitions) {
    const auto self = view->ring->index_of(options_.self_id);
    if (self) {
      for (uint32_t p : view->ring->partitions_replicated_by(*self)) {
        RepairStatus::Partition part;
        part.partition = p;
        part.verified_through = ledger_.verified_through(p);
        part.dirty = ledger_.dirty_count(p);
        part.unverified = ledger_.unverified_count(p);
        part.initiator = is_initiator(*view, p, *self);
        dirty += static_cast<int64_t>(part.dirty);
        unverified += static_cast<int64_t>(part.unverified);
        status.partitions.push_back(part);
      }
    }
  }
  const uint64_t now = clock_->steady_ms();
  for (const auto& job : running_) {
    RepairStatus::InFlight f;
    f.partition = job->task.partition;
    f.sweep = job->task.sweep;
    f.running_ms = now - job->started_ms;
    if (job->exchange && !job->exchange->done()) {
      f.epoch = job->exchange->options().epoch;
      f.peer = job->peers[job->exchange_peer].id;
      f.phase = exchange_phase_name(job->exchange->phase());
    } else {
      f.epoch = job->range.first;
      if (job->cursor < job->peers.size()) f.peer = job->peers[job->cursor].id;
      f.phase = "summary";
    }
    status.in_flight.push_back(std::move(f));
  }
  status.queued = queue_.size();
  status.exchanges = exchanges_ok_->value() + exchanges_failed_->value();
  status.keys_repaired = keys_repaired_->value();
  status.converge_ms = converge_ms_;
  dirty_gauge_->set(dirty);
  unverified_gauge_->set(unverified);
  std::lock_guard<std::mutex> lock(status_mu_);
  status_ = std::move(status);
}

RepairStatus AntiEntropyService::status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return status_;
}

void AntiEntropyService::handle(std::string payload, const Responder& respond) {
  AaeRequest request;
  const Status s = decode_aae_request(payload, &request);
  if (!s.ok()) return respond(s, {});
  if (request.partition >= options_.partitions) {
    return respond(
        Status::InvalidArgument("anti-entropy: no partition " + std::to_string(request.partition)),
        {});
  }
  if (request.op == AaeOp::kVerified) {
    asio::post(strand_, [this, p = request.partition, roots = std::move(request.roots)] {
      on_verified(p, roots);
    });
    return respond(Status::OK(), encode_aae_reply(AaeOp::kVerified, AaeReply{}));
  }
  if (answering_.fetch_add(1) >= options_.answers_max) {
    answering_.fetch_sub(1);
    return respond(Status::Busy("anti-entropy: answering too many requests"), {});
  }
  // Scans and applies take milliseconds: off the transport's strand, onto any io thread.
  asio::post(io_, [this, request = std::move(request), respond] {
    AnswerStats stats;
    auto reply = answer_aae_request(request, &data_, &stats);
    answering_.fetch_sub(1);
    trees_built_->inc(stats.trees_built);
    keys_repaired_->inc(stats.records_applied);
    bytes_repaired_->inc(stats.record_bytes_applied);
    if (!reply.ok()) return respond(reply.status(), {});
    respond(Status::OK(), std::move(reply).value());
  });
}

}  // namespace chorus
