#include "tests/sim/aae_sim.h"

#include <algorithm>
#include <optional>
#include <queue>
#include <set>
#include <tuple>

namespace chorus::sim {

Status MemoryReplica::scan(uint32_t, uint64_t epoch_first, uint64_t epoch_last,
                           const IndexVisitor& fn) {
  std::vector<std::tuple<uint64_t, std::string, Timestamp, uint64_t>> entries;
  for (const auto& [key, record] : records_) {
    if (record.epoch < epoch_first || record.epoch > epoch_last) continue;
    entries.emplace_back(record.epoch, key, record.ts, record_digest(record));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  for (const auto& [epoch, key, ts, digest] : entries) {
    if (!fn(epoch, key, ts, digest)) break;
  }
  return Status::OK();
}

Status MemoryReplica::read(std::string_view key, std::string* record) {
  auto it = records_.find(std::string(key));
  if (it == records_.end()) return Status::NotFound();
  *record = encode_record(it->second);
  return Status::OK();
}

Result<bool> MemoryReplica::apply(uint32_t, std::string_view key, std::string_view bytes) {
  Record record;
  CHORUS_RETURN_IF_ERROR(decode_record(bytes, &record));
  auto it = records_.find(std::string(key));
  if (it != records_.end()) {
    if (record_digest(it->second) == record_digest(record)) ++equal_version_applies;
    if (!newer_than(record, it->second)) return false;
  }
  records_[std::string(key)] = record;
  return true;
}

namespace {

struct Event {
  uint64_t at_ms = 0;
  uint64_t seq = 0;
  enum class Kind { kRequest, kReply, kTimeout } kind = Kind::kRequest;
  uint64_t id = 0;
  std::string payload;  // request bytes, or reply bytes when status is OK
  Status status;
  bool operator>(const Event& o) const { return std::tie(at_ms, seq) > std::tie(o.at_ms, o.seq); }
};

Record make_record(std::mt19937_64& rng, uint64_t wall_ms, uint32_t logical, uint64_t epoch,
                   const std::string& origin, bool tombstone) {
  Record r;
  r.ts = Timestamp::from_parts(wall_ms, logical);
  r.origin = origin;
  r.epoch = epoch;
  r.tombstone = tombstone;
  if (!tombstone) r.value = "v" + std::to_string(rng() % 1000000);
  return r;
}

class Simulation {
 public:
  explicit Simulation(const AaeSimOptions& o) : o_(o), rng_(o.seed), replicas_(o.replicas) {}

  AaeSimResult run() {
    populate();
    // Replica 0 exchanges with each other replica: per epoch first, then a full-partition sweep.
    // After the first pass replica 0 holds the union; the second pass carries it everywhere.
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t j = 1; j < replicas_.size(); ++j) {
        if (pass == 0) {
          for (uint64_t e = 1; e <= o_.epochs; ++e) exchange(j, e, o_.leaves);
        } else {
          exchange(j, kAllEpochs, o_.leaves * 4);
        }
      }
    }
    result_.redundant_transfers += replicas_[0].equal_version_applies;
    result_.converged = true;
    for (size_t j = 1; j < replicas_.size() && result_.converged; ++j) {
      const auto& a = replicas_[0].records();
      const auto& b = replicas_[j].records();
      if (a.size() != b.size()) {
        result_.converged = false;
        result_.first_mismatch = "replica " + std::to_string(j) + " holds " +
                                 std::to_string(b.size()) + " keys, replica 0 " +
                                 std::to_string(a.size());
        break;
      }
      for (const auto& [key, record] : a) {
        auto it = b.find(key);
        if (it == b.end() || record_digest(it->second) != record_digest(record)) {
          result_.converged = false;
          result_.first_mismatch = "key " + key + " differs on replica " + std::to_string(j);
          break;
        }
      }
    }
    return result_;
  }

 private:
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  void populate() {
    for (size_t k = 0; k < o_.keys; ++k) {
      const std::string key = "key-" + std::to_string(k);
      const uint64_t epoch_new = 1 + rng_() % o_.epochs;
      const uint64_t epoch_old = 1 + rng_() % epoch_new;
      const uint64_t wall = 1'000'000 + epoch_new * 1000 + rng_() % 1000;
      const Record newest = make_record(rng_, wall, 0, epoch_new, "n1", chance(0.1));
      const Record older = make_record(rng_, wall - 1 - rng_() % 500, 0, epoch_old, "n2", false);
      // Same timestamp, other origin: only the record's tie-break orders the two.
      const Record twin = make_record(rng_, wall, 0, epoch_new, "n0", false);
      bool same = true;
      std::optional<Record> first;
      for (auto& replica : replicas_) {
        const double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
        std::optional<Record> held;
        if (o_.identical || roll < 0.75) {
          held = newest;
        } else if (roll < 0.85) {
          held = older;
        } else if (roll < 0.88) {
          held = twin;
        }
        if (held) replica.put(key, *held);
        if (&replica == &replicas_.front()) {
          first = held;
        } else if (held.has_value() != first.has_value() ||
                   (held && record_digest(*held) != record_digest(*first))) {
          same = false;
        }
      }
      if (!same) ++result_.divergent_keys;
    }
  }

  void send(Exchange& ex, uint64_t now) {
    const uint64_t id = ex.request_id();
    push({now + o_.timeout_ms, 0, Event::Kind::kTimeout, id, {}, Status::OK()});
    deliver(Event::Kind::kRequest, id, ex.request(), Status::OK(), now);
  }

  // Queues a message, or loses it, or queues it twice; each copy with its own latency.
  void deliver(Event::Kind kind, uint64_t id, const std::string& payload, const Status& status,
               uint64_t now) {
    if (chance(o_.loss)) {
      ++result_.messages_lost;
      return;
    }
    const int copies = chance(o_.duplicate) ? 2 : 1;
    if (copies == 2) ++result_.messages_duplicated;
    for (int c = 0; c < copies; ++c) {
      push({now + 1 + rng_() % o_.latency_max_ms, 0, kind, id, payload, status});
    }
  }

  void push(Event e) {
    e.seq = seq_++;
    events_.push(std::move(e));
  }

  void exchange(size_t peer, uint64_t epoch, size_t leaves) {
    MemoryReplica& local = replicas_[0];
    MemoryReplica& remote = replicas_[peer];
    ExchangeOptions options;
    options.partition = 0;
    options.epoch = epoch;
    options.leaves = leaves;
    // With 10% loss each way an attempt fails about one time in five; 64 attempts never all do.
    options.attempts_max = 64;
    options.push_bytes_max = 512;  // many small pushes: more messages to lose and reorder
    if (o_.seed % 2 == 1) {
      // As a summary would tell it: an empty side skips the descent.
      auto remote_tree = build_tree(&remote, 0, epoch, leaves);
      if (remote_tree.ok()) options.remote_entries = remote_tree.value().entries();
    }
    Exchange ex(options, &local);
    ++result_.exchanges;
    events_ = {};
    std::set<std::string> pushes_seen;
    if (!ex.start().ok()) {
      ++result_.exchanges_failed;
      return;
    }
    send(ex, 0);
    while (!ex.done() && !events_.empty()) {
      Event e = events_.top();
      events_.pop();
      const uint64_t before = ex.request_id();
      switch (e.kind) {
        case Event::Kind::kRequest: {
          AaeRequest request;
          if (!decode_aae_request(e.payload, &request).ok()) break;
          if (request.op == AaeOp::kPush && pushes_seen.insert(e.payload).second) {
            // The first delivery of a push: none of its records may be a version the remote
            // already holds (a retried or duplicated push legitimately repeats itself).
            for (const AaeItem& item : request.items) {
              std::string held;
              if (remote.read(item.key, &held).ok() && held == item.record) {
                ++result_.redundant_transfers;
              }
            }
          }
          AnswerStats stats;
          auto reply = answer_aae_request(request, &remote, &stats);
          if (request.op == AaeOp::kPush) result_.records_moved += request.items.size();
          if (reply.ok()) {
            deliver(Event::Kind::kReply, e.id, reply.value(), Status::OK(), e.at_ms);
          } else {
            deliver(Event::Kind::kReply, e.id, {}, reply.status(), e.at_ms);
          }
          break;
        }
        case Event::Kind::kReply: {
          const uint64_t fetched_before = ex.stats().keys_fetched;
          if (e.status.ok()) {
            ex.on_reply(e.id, e.payload);
          } else {
            ex.on_reply(e.id, e.status);
          }
          result_.records_moved += ex.stats().keys_fetched - fetched_before;
          break;
        }
        case Event::Kind::kTimeout:
          ex.on_reply(e.id, Status::Timeout("no reply"));
          break;
      }
      if (!ex.done() && ex.request_id() != before) send(ex, e.at_ms);
    }
    if (!ex.done() || !ex.status().ok()) ++result_.exchanges_failed;
  }

  AaeSimOptions o_;
  std::mt19937_64 rng_;
  std::vector<MemoryReplica> replicas_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t seq_ = 0;
  AaeSimResult result_;
};

}  // namespace

AaeSimResult run_aae_sim(const AaeSimOptions& options) {
  return Simulation(options).run();
}

}  // namespace chorus::sim
