// Partitioner: maps a key to one of P fixed partitions (DESIGN.md §4).
//
// P is chosen at cluster creation and never changes: it is a power of two so that the partition is
// the low bits of XXH3-64 of the key bytes, which every node (and every version of Chorus) computes
// identically. Changing the hash or the bit selection would silently re-home every key, so both are
// part of the on-disk format.
//
// Thread-safety: pure functions. Errors: partition_of() requires a valid count (checked by the
// caller with is_valid_partition_count(), e.g. when loading cluster config); passing an invalid one
// is a programming error and aborts.
#pragma once

#include <cstdint>
#include <string_view>

namespace chorus {

// 256 partitions spread evenly over up to ~25 nodes at N=3 while keeping per-partition anti-entropy
// state (one Merkle tree per partition-epoch) small.
constexpr uint32_t kPartitionsDefault = 256;
// Upper bound: the ring stores O(partitions * members) entries, and 2^16 partitions already give
// sub-1% granularity for thousands of nodes.
constexpr uint32_t kPartitionsMax = 65536;

static_assert((kPartitionsDefault & (kPartitionsDefault - 1)) == 0, "must be a power of two");
static_assert((kPartitionsMax & (kPartitionsMax - 1)) == 0, "must be a power of two");
static_assert(kPartitionsDefault <= kPartitionsMax);

// True when `partitions` is a power of two in [1, kPartitionsMax].
bool is_valid_partition_count(uint32_t partitions);

// The partition of `key`: XXH3_64bits(key) & (partitions - 1). `partitions` must be valid.
uint32_t partition_of(std::string_view key, uint32_t partitions);

}  // namespace chorus
