// Ring: an immutable placement of P partitions on the cluster members, N replicas each
// (DESIGN.md §3, §6).
//
// A Ring is built once per membership/epoch from the cluster metadata and published as a
// shared_ptr<const Ring>; it is never modified afterwards, so any number of threads may read it
// without locks. The Ring owns copies of its members.
//
// Placement is a deterministic function of (member id set, partitions, replicas) only: every node
// computes the same owners whatever order it learned the members in; the epoch and the addresses
// are carried along but do not affect placement. How it works:
//   - Every (partition, member) pair gets a rendezvous score, XXH3 of the partition seeded by the
//     hashed id. A partition prefers members in descending score (its walk, after the owners).
//   - Owners: the unique stable assignment (Gale-Shapley, both sides ranking pairs by score) giving
//     each partition min(N, M) distinct members with each member's replica count capped at
//     ~1.1x the average; members then below ~0.9x the average pull their best-scoring partitions
//     from members above it. Replica counts thus stay within max/min <= 1.22 (when the average is
//     more than a few partitions).
//   - Primaries: the same procedure among each partition's owners with exact caps, so primary
//     counts differ by at most one whenever the owners allow it (primaries move no data, so they
//     need no slack).
// A join or leave moves close to the minimum (P*N/M assignments): rendezvous scores of the other
// members do not change, and the +-10% band means few old members must re-balance. It cannot be
// exactly minimal: no function of the member set alone is both balanced and keeps every surviving
// assignment. Measured over the tested member sets (P=256|1024, N=3, M=3..12): moved <= 1.23x the
// minimum, and a leave drops at most 0.2x the minimum of the staying members' assignments;
// tests/unit/ring/placement_test.cpp prints the full tables.
// Cost: O(P*M log M) time and O(P*M) memory to build (~1 ms for P=256, M=10; ~1.3 s at the
// kRingEntriesMax bound), so build once per membership change, not per request.
//
// Transitions (pending ranges, DESIGN.md §6): while members join or leave, build_transition()
// combines the ring of the current members with the ring of the target members. Its members() is
// the union of both; for a partition not yet handed over, owners() are the current owners (reads
// stay there) and write_owners() adds the target owners that do not hold it yet (pending owners:
// writes go to both); once handed over, owners() and write_owners() are the target owners.
//
// Errors: build() returns InvalidArgument for a bad member set or parameters and builds nothing.
// Accessors taking a partition or member index require it to be in range; an out-of-range index is
// a programming error and aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ring/partitioner.h"

namespace chorus {

// N is at most 7: quorum fan-out and per-partition replica state grow with N, and no deployment we
// target needs more than 5.
constexpr int kReplicasMax = 7;
// Members in one ring. The walk of every partition lists every member, so the ring holds
// P*M entries; kRingEntriesMax bounds that (64 MiB of walk) and with it the build time.
constexpr size_t kRingMembersMax = 1024;
constexpr size_t kRingEntriesMax = size_t{1} << 24;

static_assert(kReplicasMax >= 1);
static_assert(kRingMembersMax * kPartitionsDefault <= kRingEntriesMax,
              "the default partition count must allow the largest member set");
static_assert(kRingMembersMax <= UINT32_MAX, "member indices are stored as uint32_t");

// A cluster member as the ring sees it. Addresses are "host:port".
struct Member {
  std::string id;
  std::string peer_address;
  std::string http_address;
};

class Ring {
 public:
  // Builds the placement. InvalidArgument when: no members, more than kRingMembersMax members, an
  // empty or duplicate id, an id longer than kNodeIdBytesMax, partitions not valid
  // (is_valid_partition_count), partitions * members > kRingEntriesMax, or replicas outside
  // [1, kReplicasMax]. When replicas > members.size(), each partition has members.size() owners.
  static Result<std::shared_ptr<const Ring>> build(std::vector<Member> members, uint32_t partitions,
                                                   int replicas, uint64_t epoch);

  // A ring in transition from `current` to `target` (see the header comment). handed_over[p] says
  // partition p's new owners have it all; its size must be `partitions`. Same errors as build(),
  // for either member set.
  static Result<std::shared_ptr<const Ring>> build_transition(std::vector<Member> current,
                                                              std::vector<Member> target,
                                                              const std::vector<bool>& handed_over,
                                                              uint32_t partitions, int replicas,
                                                              uint64_t epoch);

  uint32_t partitions() const { return partitions_; }
  // The configured N (owners(p).size() may be smaller when there are fewer members).
  int replicas() const { return replicas_; }
  uint64_t epoch() const { return epoch_; }
  // Sorted by id; indices into this vector are the member indices used everywhere below.
  const std::vector<Member>& members() const { return members_; }
  // The index of the member with this id, or nullopt when it is not in the ring.
  std::optional<size_t> index_of(std::string_view id) const;

  // Owners of `partition`: min(N, members) distinct member indices, primary first, the other
  // owners in walk order.
  const std::vector<uint32_t>& owners(uint32_t partition) const;
  // Every member index exactly once: owners(partition) first (same order), then the others in
  // descending rendezvous score. The coordinator walks it to find stand-ins for down owners.
  const std::vector<uint32_t>& walk(uint32_t partition) const;

  // owners(partition) first, then its pending owners (in transition only; otherwise == owners).
  const std::vector<uint32_t>& write_owners(uint32_t partition) const;
  size_t pending_count(uint32_t partition) const {
    return write_owners(partition).size() - owners(partition).size();
  }
  bool in_transition() const { return !previous_owners_.empty(); }
  // In transition: the owners of `partition` before it (the streaming sources) and after it (the
  // target). Outside a transition both are owners(partition).
  const std::vector<uint32_t>& previous_owners(uint32_t partition) const;
  const std::vector<uint32_t>& target_owners(uint32_t partition) const;

  // Partitions (ascending) for which member `index` is among the owners.
  std::vector<uint32_t> partitions_replicated_by(size_t index) const;
  // Partitions (ascending) for which member `index` is the primary (owners(p)[0]).
  std::vector<uint32_t> partitions_led_by(size_t index) const;

 private:
  Ring() = default;

  uint32_t partitions_ = 0;
  int replicas_ = 0;
  uint64_t epoch_ = 0;
  std::vector<Member> members_;
  std::vector<std::vector<uint32_t>> owners_;  // [partition] -> member indices, primary first
  std::vector<std::vector<uint32_t>> walk_;    // [partition] -> all member indices
  // Transition only (empty otherwise): write owners, previous and target owners per partition.
  std::vector<std::vector<uint32_t>> write_owners_;
  std::vector<std::vector<uint32_t>> previous_owners_;
  std::vector<std::vector<uint32_t>> target_owners_;
};

}  // namespace chorus
