// Bucket sync (DESIGN.md §7): once two replicas found a differing Merkle leaf, they swap the
// (key, timestamp, digest) lists of that bucket and move only the records that differ.
//
// diff_bucket() decides, from the two lists, which keys this replica must send and which it must
// fetch: a key only one side holds goes to the other; a key held at different timestamps goes
// from the newer side to the older. Equal timestamps with different digests cannot be ordered from
// the index alone (the tie-break is the origin id, inside the record), so both sides send theirs
// and the receiving Store's last-writer-wins apply keeps the winner on both.
//
// The list encoding is bounded (kBucketKeysMax entries) and versioned; decoding malformed input
// is Corruption. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/hlc.h"
#include "core/status.h"

namespace chorus {

// Keys in one bucket's list: with 64 leaves this covers partition-epochs of ~500k keys; a larger
// bucket is split by using more leaves, not by a longer list.
constexpr size_t kBucketKeysMax = 8192;

struct KeyVersion {
  std::string key;
  Timestamp ts;
  uint64_t digest = 0;
};

struct BucketDiff {
  std::vector<std::string> send;   // keys this replica holds newer (or alone), ascending
  std::vector<std::string> fetch;  // keys the other replica holds newer (or alone), ascending
};

// Both lists in any order; each key at most once per list.
BucketDiff diff_bucket(std::vector<KeyVersion> local, std::vector<KeyVersion> remote);

std::string encode_key_versions(const std::vector<KeyVersion>& list);
[[nodiscard]] Status decode_key_versions(std::string_view bytes, std::vector<KeyVersion>* list);

}  // namespace chorus
