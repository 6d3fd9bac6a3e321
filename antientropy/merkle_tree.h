// MerkleTree and TreeComparison: the hashing core of anti-entropy (DESIGN.md §7), pure and
// sans-I/O.
//
// A MerkleTree summarises one (partition, epoch) of one replica: every index entry
// (key, timestamp, digest) falls in leaf bucket xxh3(key) mod `leaves`; a leaf's hash combines its
// entries' 128-bit xxh3 hashes by addition mod 2^128, so it does not depend on the order entries
// were added and an entry can be removed again (a key re-stamped into a later epoch); an inner node
// is the xxh3-128 of its two children. 128 bits make an accidental match of two different leaf
// contents (which would hide a difference forever) a 2^-128 event per comparison. Two replicas
// holding the same entries have equal roots; any difference shows in the leaves that hold the
// differing keys and on their paths to the root.
//
// TreeComparison walks two trees top-down, breadth first, as the exchange protocol does: it asks
// for the hashes of a set of nodes at one level, compares them with the local tree and asks next
// only for the children of the nodes that differ. It ends with the differing leaves, whose
// key/timestamp lists the replicas then swap. The number of nodes asked for is at most
// 2 * depth * (differing leaves) + 1, not the tree size: cost follows the difference.
//
// Layout: nodes are numbered level by level from the root (level 0, index 0); level L has 2^L
// nodes; the leaves are level depth() (= log2 leaves).
// Thread-safety: values; no shared state. Errors: create() returns InvalidArgument for a leaf count
// that is not a power of two in [1, kMerkleLeavesMax]; TreeComparison::on_hashes returns
// InvalidArgument for an answer that does not match the question (never trusted blindly).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/hlc.h"
#include "core/status.h"

namespace chorus {

// 64 leaves (DESIGN.md §7): a partition-epoch of a few thousand keys splits into buckets of tens of
// keys, so a single differing key costs a 6-level walk and one small key list.
constexpr size_t kMerkleLeavesDefault = 64;
// 2^16 leaves keep a tree at 1 MiB of hashes, whatever the partition size.
constexpr size_t kMerkleLeavesMax = size_t{1} << 16;
static_assert((kMerkleLeavesDefault & (kMerkleLeavesDefault - 1)) == 0);
static_assert(kMerkleLeavesDefault <= kMerkleLeavesMax);

// A 128-bit node hash.
struct Hash128 {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const Hash128& o) const { return high == o.high && low == o.low; }
  bool operator!=(const Hash128& o) const { return !(*this == o); }
};

class MerkleTree {
 public:
  static Result<MerkleTree> create(size_t leaves = kMerkleLeavesDefault);

  // Adds or removes one index entry. Removing an entry that was never added corrupts the tree's
  // meaning (not its memory): callers remove only what they added.
  void add(std::string_view key, Timestamp ts, uint64_t digest);
  void remove(std::string_view key, Timestamp ts, uint64_t digest);

  size_t leaves() const { return leaves_; }
  size_t depth() const { return depth_; }
  size_t leaf_of(std::string_view key) const;
  // Hash of node `index` at `level` (level in [0, depth], index < 2^level). Inner hashes are
  // recomputed lazily after changes.
  Hash128 hash(size_t level, size_t index) const;
  Hash128 root() const { return hash(0, 0); }
  size_t entries() const { return entries_; }

 private:
  MerkleTree(size_t leaves, size_t depth);
  static unsigned __int128 entry_hash(std::string_view key, Timestamp ts, uint64_t digest);
  void rebuild() const;

  size_t leaves_;
  size_t depth_;
  size_t entries_ = 0;
  std::vector<unsigned __int128> leaf_sums_;
  mutable std::vector<Hash128> nodes_;  // heap order: node i has children 2i+1, 2i+2
  mutable bool dirty_ = true;
};

class TreeComparison {
 public:
  struct Question {
    size_t level = 0;
    std::vector<size_t> indices;  // ascending
  };

  // Compares `local` with a remote tree of the same shape (leaves) that answers questions.
  explicit TreeComparison(const MerkleTree* local);

  // The next nodes to ask the remote for; empty once done().
  const Question& question() const { return question_; }
  bool done() const { return question_.indices.empty(); }
  // The remote's hashes for question().indices, in the same order. Advances to the next level.
  Status on_hashes(const std::vector<Hash128>& hashes);
  // When done(): the leaves whose hashes differ (ascending).
  const std::vector<size_t>& differing_leaves() const { return differing_; }
  size_t nodes_compared() const { return nodes_compared_; }

 private:
  const MerkleTree* local_;
  Question question_;
  std::vector<size_t> differing_;
  size_t nodes_compared_ = 0;
};

}  // namespace chorus
