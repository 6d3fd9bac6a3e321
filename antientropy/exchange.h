// The anti-entropy exchange between two replicas of one (partition, epoch) (DESIGN.md §7), as a
// sans-I/O state machine: it produces requests and consumes replies; sending them, timing them out
// and pacing them is the caller's business (antientropy/service.h in a node, tests/sim in the
// simulator).
//
// ReplicaData is what the exchange needs of a replica's data: a scan of the (partition, epoch, key)
// index, reading a stored record and applying one (last-writer-wins). Trees, epoch roots and bucket
// lists are built from the scan by the free functions below, the same on both sides, so the two
// trees of a comparison always have the same shape (`leaves` travels in every request).
//
// An Exchange, on the initiating side:
//   1. kHashes: compares the trees top-down, breadth first, asking only for the children of nodes
//      that differ (TreeComparison); skipped when either tree is known to be empty;
//   2. for the differing leaves, in chunks: kBuckets fetches the remote key lists, diff_bucket()
//      decides which records go which way; kFetch pulls the remote's newer records and applies
//      them locally; kPush sends the local newer records, which the responder applies.
// Records both sides hold at the same version are never transferred. Each request is idempotent;
// one is outstanding at a time, with an id. A reply for any other id (a duplicate, a late reply to
// a request already retried) is ignored; an error reply (timeout, peer down) resends the request
// with a new id, at most attempts_max times, then the exchange fails with that error.
//
// answer_aae_request() is the responder: stateless, it answers one request from its ReplicaData.
//
// Thread-safety: an Exchange is a value used by one thread (or strand) at a time. ReplicaData
// implementations say their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "antientropy/bucket_diff.h"
#include "antientropy/merkle_tree.h"
#include "antientropy/messages.h"
#include "core/status.h"

namespace chorus {

using IndexVisitor =
    std::function<bool(uint64_t epoch, std::string_view key, Timestamp ts, uint64_t digest)>;

class ReplicaData {
 public:
  virtual ~ReplicaData() = default;
  // Index entries of `partition` with epochs in [epoch_first, epoch_last], in (epoch, key) order.
  virtual Status scan(uint32_t partition, uint64_t epoch_first, uint64_t epoch_last,
                      const IndexVisitor& fn) = 0;
  // The stored version of `key` as encode_record bytes; NotFound if none.
  virtual Status read(std::string_view key, std::string* record) = 0;
  // Applies one version if it is newer; true when it was stored. Corruption for undecodable
  // bytes, InvalidArgument for a key of another partition.
  virtual Result<bool> apply(uint32_t partition, std::string_view key, std::string_view record) = 0;
};

// [first, last] epochs an exchange of `epoch` covers (kAllEpochs: every epoch).
inline uint64_t epoch_range_first(uint64_t epoch) {
  return epoch == kAllEpochs ? 0 : epoch;
}
inline uint64_t epoch_range_last(uint64_t epoch) {
  return epoch;
}

Result<MerkleTree> build_tree(ReplicaData* data, uint32_t partition, uint64_t epoch, size_t leaves);
// Roots of the non-empty epoch trees in [first, last], ascending.
Result<std::vector<EpochRoot>> epoch_roots(ReplicaData* data, uint32_t partition, uint64_t first,
                                           uint64_t last, size_t leaves);
// The key lists of `leaf_ids`, in that order.
Status bucket_lists(ReplicaData* data, uint32_t partition, uint64_t epoch, size_t leaves,
                    const std::vector<uint32_t>& leaf_ids,
                    std::vector<std::vector<KeyVersion>>* lists);

// What answering one request did, for metrics.
struct AnswerStats {
  size_t trees_built = 0;
  size_t records_applied = 0;
  size_t record_bytes_applied = 0;
};

// Answers any request but kVerified (which is bookkeeping, not data: the caller handles it).
// InvalidArgument for a request that makes no sense (bad leaf count, level or index, kVerified);
// TooLarge when a single bucket list is too large for one message.
Result<std::string> answer_aae_request(const AaeRequest& request, ReplicaData* data,
                                       AnswerStats* stats);

struct ExchangeOptions {
  uint32_t partition = 0;
  uint64_t epoch = 0;  // kAllEpochs for the full-partition sweep
  size_t leaves = kMerkleLeavesDefault;
  // Sends of one request (the first and its retries).
  int attempts_max = 4;
  // Records per kPush: at most this many bytes (or one record alone when larger).
  size_t push_bytes_max = kAaeReplyBytesMax;
  // The remote tree's entry count when known (from a kSummary). When either side is empty the
  // descent is skipped: every non-empty leaf differs, so the exchange asks for those key lists at
  // once (a node that was down for a whole epoch costs no hashes).
  std::optional<uint64_t> remote_entries;
};

struct ExchangeStats {
  uint64_t nodes_compared = 0;
  uint64_t buckets_differing = 0;
  uint64_t keys_fetched = 0;          // records received from the remote
  uint64_t keys_pushed = 0;           // records sent to the remote
  uint64_t records_applied = 0;       // locally, from fetched records that were newer
  uint64_t record_bytes_applied = 0;  // key + record bytes of those
  uint64_t record_bytes = 0;          // record bytes moved either way
  uint64_t bytes_out = 0;             // request bytes, retries included
  uint64_t bytes_in = 0;              // reply bytes, duplicates included
  uint64_t remote_applied = 0;        // pushed records the remote stored
  uint64_t retries = 0;
};

class Exchange {
 public:
  enum class Phase { kIdle, kHashes, kBuckets, kFetch, kPush, kDone };

  Exchange(ExchangeOptions options, ReplicaData* local);
  // The comparison points into the tree: an Exchange stays where it was built.
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Builds the local tree and the first request. On error the exchange is done with that status.
  Status start();

  bool done() const { return phase_ == Phase::kDone; }
  // OK once done() after a complete exchange; the error that ended it otherwise.
  const Status& status() const { return status_; }
  Phase phase() const { return phase_; }
  // The request to send now and its id (valid while !done()).
  uint64_t request_id() const { return request_id_; }
  const std::string& request() const { return request_bytes_; }
  // The outcome of request `id`. Anything but the outstanding id is ignored (returns false).
  // A reply that does not answer the request (keys not asked for, a key list of another leaf,
  // counts out of range) ends the exchange with Corruption.
  bool on_reply(uint64_t id, Result<std::string> reply);

  const ExchangeStats& stats() const { return stats_; }
  const ExchangeOptions& options() const { return options_; }

 private:
  void send(AaeRequest request);
  void fail(Status status);
  Status handle(const AaeReply& reply);
  // Moves to the next step after a reply was handled: the next request, or done.
  void advance();
  AaeRequest base(AaeOp op) const;

  ExchangeOptions options_;
  ReplicaData* local_;
  Phase phase_ = Phase::kIdle;
  Status status_;
  std::optional<MerkleTree> tree_;
  std::optional<TreeComparison> comparison_;
  std::vector<uint32_t> differing_;  // leaves still to sync
  size_t next_leaf_ = 0;             // index into differing_
  std::vector<std::string> fetch_;   // keys of the current chunk to fetch
  size_t fetched_ = 0;
  std::set<std::string> adopted_;  // keys of the current chunk whose fetched version won here
  std::vector<std::string> push_;  // keys of the current chunk to push
  size_t pushed_ = 0;
  size_t push_batch_ = 0;  // keys in the outstanding kPush
  AaeRequest request_;
  std::string request_bytes_;
  uint64_t request_id_ = 0;
  int attempts_ = 0;
  ExchangeStats stats_;
};

const char* exchange_phase_name(Exchange::Phase phase);

}  // namespace chorus
