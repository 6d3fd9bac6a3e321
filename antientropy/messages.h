// The anti-entropy wire protocol (RpcMethod::kAntiEntropy, DESIGN.md §7).
//
// Every exchange is driven by one side, the initiator, with requests the other side answers
// statelessly from its own store. Every request is idempotent, so a lost, duplicated or reordered
// message is handled by sending the request again:
//
//   kSummary   roots of every non-empty epoch tree of a partition in [epoch_first, epoch_last]:
//              one message settles many epochs that are already equal.
//   kHashes    hashes of some nodes at one level of a (partition, epoch) tree: the breadth-first
//              descent into differing subtrees.
//   kBuckets   the (key, timestamp, digest) lists of some leaves.
//   kFetch     the records of some keys (the initiator's side is older or missing).
//   kPush      records to apply (the responder's side is older or missing).
//   kVerified  (partition, epoch, root) were found equal on every replica: bookkeeping.
//
// The epoch kAllEpochs names the whole partition (the full sweep). Message sizes are bounded
// (kAaeReplyBytesMax for what a responder puts in one answer, plus at most one record or bucket
// over it); decoding checks every count and length and reports malformed input as Corruption.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "antientropy/bucket_diff.h"
#include "antientropy/merkle_tree.h"
#include "core/limits.h"
#include "core/status.h"

namespace chorus {

// The epoch value naming every epoch of a partition.
constexpr uint64_t kAllEpochs = UINT64_MAX;
// What a responder packs into one reply (records or key lists) before it stops: 1 MiB keeps one
// reply a few milliseconds of a LAN link, so the rate limiter paces in small steps. A single record
// or bucket list larger than this still goes alone.
constexpr size_t kAaeReplyBytesMax = 1 << 20;
// Epochs one kSummary covers.
constexpr uint64_t kSummaryEpochsMax = 4096;
// Keys one kFetch names, buckets one kBuckets names, epochs one kVerified names.
constexpr size_t kFetchKeysMax = 1024;
constexpr size_t kBucketsPerRequestMax = 64;
constexpr size_t kVerifiedEpochsMax = kSummaryEpochsMax;
static_assert(kAaeReplyBytesMax + kKeyBytesMax + kRecordOverheadBytesMax < kFrameBytesMax);

enum class AaeOp : uint8_t {
  kSummary = 1,
  kHashes = 2,
  kBuckets = 3,
  kFetch = 4,
  kPush = 5,
  kVerified = 6,
};

struct AaeItem {
  std::string key;
  std::string record;  // encode_record bytes (checksummed)
};

struct EpochRoot {
  uint64_t epoch = 0;
  uint64_t entries = 0;
  Hash128 root;
};

// One request; the fields an op does not use stay empty.
struct AaeRequest {
  AaeOp op = AaeOp::kSummary;
  uint32_t partition = 0;
  uint64_t epoch = 0;             // kHashes, kBuckets; kSummary: the first epoch
  uint64_t epoch_last = 0;        // kSummary
  uint32_t leaves = 0;            // kSummary, kHashes, kBuckets: the tree shape both sides use
  uint32_t level = 0;             // kHashes
  std::vector<uint32_t> nodes;    // kHashes: node indices at `level`; kBuckets: leaf indices
  std::vector<std::string> keys;  // kFetch
  std::vector<AaeItem> items;     // kPush
  // kVerified: the roots the initiator found on every replica (entries 0: no entry anywhere); a
  // receiver accepts an epoch only if its own root is still that one.
  std::vector<EpochRoot> roots;
};

struct AaeReply {
  std::vector<EpochRoot> roots;                  // kSummary: non-empty epochs, ascending
  std::vector<Hash128> hashes;                   // kHashes: one per requested node
  std::vector<std::vector<KeyVersion>> buckets;  // kBuckets: for a prefix of the requested leaves
  std::vector<AaeItem> items;                    // kFetch: records found, for a prefix of the keys
  uint32_t answered = 0;  // kFetch: how many of the requested keys this reply covers
  uint32_t applied = 0;   // kPush: records that were newer and are now stored
};

std::string encode_aae_request(const AaeRequest& request);
[[nodiscard]] Status decode_aae_request(std::string_view bytes, AaeRequest* request);
// `op` is the request's op: a reply does not repeat it.
std::string encode_aae_reply(AaeOp op, const AaeReply& reply);
[[nodiscard]] Status decode_aae_reply(AaeOp op, std::string_view bytes, AaeReply* reply);

}  // namespace chorus
