// RepairLedger: which (partition, epoch) pairs anti-entropy has verified, which were written late
// after that (dirty), and which are still to compare (DESIGN.md §7). Pure bookkeeping: no I/O, no
// time, no threads; the service persists each partition's encoding and decides what to compare.
//
// Epochs up to closed_through() are closed (the cluster moved past them), so their trees can be
// compared; later epochs are still being written. Per partition:
//   - verified: found equal on every replica (an epoch below the partition's watermark, or one in
//     the sparse set above it);
//   - dirty: a verified epoch that received a late write since (hint, read repair, repair, stream);
//     it is compared again first;
//   - unverified: every other closed epoch.
// reset() forgets a partition's verifications (its replica set changed: the new replica has not
// been compared with anyone). collected_below() records how far tombstones were collected.
//
// Bounds: at most kLedgerSparseEpochsMax verified or dirty epochs are kept per partition (beyond
// that the partition is reset: re-verifying is safe, forgetting a dirty mark would not be).
// Thread-safety: a value; one thread (the anti-entropy strand) at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace chorus {

constexpr size_t kLedgerSparseEpochsMax = 4096;

struct EpochRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

class RepairLedger {
 public:
  explicit RepairLedger(uint32_t partitions);

  uint32_t partitions() const { return static_cast<uint32_t>(parts_.size()); }
  uint64_t closed_through() const { return closed_through_; }
  // Epochs <= epoch are closed. Never moves back.
  void close_through(uint64_t epoch);

  void mark_verified(uint32_t partition, uint64_t epoch);
  // Marks a closed, verified epoch dirty; an open or never-verified epoch needs no mark (it is
  // compared anyway). Returns whether the mark is new.
  bool mark_dirty(uint32_t partition, uint64_t epoch);
  void reset(uint32_t partition);
  // Records which replicas the partition's verifications are about (a hash of the owner ids).
  // A different set than the one recorded resets the partition; returns whether it did.
  bool set_owners(uint32_t partition, uint64_t owners_hash);
  uint64_t owners(uint32_t partition) const { return parts_[partition].owners_hash; }

  bool verified(uint32_t partition, uint64_t epoch) const;
  bool dirty(uint32_t partition, uint64_t epoch) const {
    return parts_[partition].dirty.count(epoch) > 0;
  }
  bool pending(uint32_t partition, uint64_t epoch) const {
    return epoch <= closed_through_ && !verified(partition, epoch);
  }
  // The epochs to compare next: a range of at most `span` epochs starting at the lowest dirty
  // epoch, or else at the lowest unverified one; nullopt when nothing is pending.
  std::optional<EpochRange> next_range(uint32_t partition, uint64_t span) const;
  // Highest E such that every epoch <= E is verified and clean; nullopt when epoch 0 is not.
  std::optional<uint64_t> verified_through(uint32_t partition) const;
  size_t dirty_count(uint32_t partition) const { return parts_[partition].dirty.size(); }
  uint64_t unverified_count(uint32_t partition) const;

  // Tombstone collection: every epoch below this was collected. set_collected_below() only moves
  // it forward, and reset() keeps it; a dirty mark on a collected epoch moves it back to that
  // epoch (what arrived late is collected again once verified again).
  uint64_t collected_below(uint32_t partition) const { return parts_[partition].collected_below; }
  void set_collected_below(uint32_t partition, uint64_t epoch) {
    if (epoch > parts_[partition].collected_below) parts_[partition].collected_below = epoch;
  }

  std::string encode(uint32_t partition) const;
  // Corruption for malformed bytes (the partition is then left as it was).
  [[nodiscard]] Status decode(uint32_t partition, std::string_view bytes);

 private:
  struct Part {
    uint64_t verified_below = 0;  // every epoch below is verified
    std::set<uint64_t> verified;  // verified epochs >= verified_below
    std::set<uint64_t> dirty;     // verified, then written late (any epoch)
    uint64_t collected_below = 0;
    uint64_t owners_hash = 0;  // 0: not recorded yet
  };
  static void compact(Part* part);

  uint64_t closed_through_ = 0;
  bool any_closed_ = false;
  std::vector<Part> parts_;
};

}  // namespace chorus
