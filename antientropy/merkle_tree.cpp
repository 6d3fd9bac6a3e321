#include "antientropy/merkle_tree.h"

#include <xxhash.h>

#include <cstring>

#include "core/assert.h"

namespace chorus {

namespace {
constexpr uint64_t kLeafSeed = 0x6c656166;  // "leaf"

// Position of node (level, index) in heap order.
size_t position(size_t level, size_t index) {
  return ((size_t{1} << level) - 1) + index;
}

Hash128 to_hash(XXH128_hash_t h) {
  return Hash128{h.high64, h.low64};
}

Hash128 hash_pair(const Hash128& left, const Hash128& right) {
  const uint64_t both[4] = {left.high, left.low, right.high, right.low};
  return to_hash(XXH3_128bits(both, sizeof(both)));
}

Hash128 hash_leaf(unsigned __int128 sum, size_t leaf) {
  const uint64_t words[3] = {static_cast<uint64_t>(sum >> 64), static_cast<uint64_t>(sum),
                             static_cast<uint64_t>(leaf)};
  return to_hash(XXH3_128bits(words, sizeof(words)));
}
}  // namespace

Result<MerkleTree> MerkleTree::create(size_t leaves) {
  if (leaves == 0 || leaves > kMerkleLeavesMax || (leaves & (leaves - 1)) != 0) {
    return Status::InvalidArgument("merkle tree leaves must be a power of two in 1.." +
                                   std::to_string(kMerkleLeavesMax));
  }
  size_t depth = 0;
  while ((size_t{1} << depth) < leaves) ++depth;
  return MerkleTree(leaves, depth);
}

MerkleTree::MerkleTree(size_t leaves, size_t depth)
    : leaves_(leaves), depth_(depth), leaf_sums_(leaves, 0), nodes_(2 * leaves - 1) {}

unsigned __int128 MerkleTree::entry_hash(std::string_view key, Timestamp ts, uint64_t digest) {
  // Seeded by the version so the same key at two versions hashes apart.
  const XXH128_hash_t h =
      XXH3_128bits_withSeed(key.data(), key.size(), ts.packed ^ (digest * 0x9E3779B97F4A7C15ull));
  return (static_cast<unsigned __int128>(h.high64) << 64) | h.low64;
}

size_t MerkleTree::leaf_of(std::string_view key) const {
  // Seeded: partition_of() takes the low bits of the unseeded xxh3, so every key of a partition
  // shares them; bucketing by the same bits would put a whole partition in one leaf.
  return static_cast<size_t>(XXH3_64bits_withSeed(key.data(), key.size(), kLeafSeed) &
                             (leaves_ - 1));
}

void MerkleTree::add(std::string_view key, Timestamp ts, uint64_t digest) {
  leaf_sums_[leaf_of(key)] += entry_hash(key, ts, digest);
  ++entries_;
  dirty_ = true;
}

void MerkleTree::remove(std::string_view key, Timestamp ts, uint64_t digest) {
  CHORUS_ASSERT(entries_ > 0);
  leaf_sums_[leaf_of(key)] -= entry_hash(key, ts, digest);
  --entries_;
  dirty_ = true;
}

void MerkleTree::rebuild() const {
  for (size_t i = 0; i < leaves_; ++i) {
    // An empty bucket hashes to 0 on every replica; a non-empty one is mixed once more so a sum
    // that happens to be 0 does not look empty.
    nodes_[position(depth_, i)] = leaf_sums_[i] == 0 ? Hash128{} : hash_leaf(leaf_sums_[i], i);
  }
  for (size_t level = depth_; level-- > 0;) {
    for (size_t i = 0; i < (size_t{1} << level); ++i) {
      nodes_[position(level, i)] =
          hash_pair(nodes_[position(level + 1, 2 * i)], nodes_[position(level + 1, 2 * i + 1)]);
    }
  }
  dirty_ = false;
}

Hash128 MerkleTree::hash(size_t level, size_t index) const {
  CHORUS_ASSERT(level <= depth_ && index < (size_t{1} << level));
  if (dirty_) rebuild();
  return nodes_[position(level, index)];
}

TreeComparison::TreeComparison(const MerkleTree* local) : local_(local) {
  question_.level = 0;
  question_.indices = {0};
}

Status TreeComparison::on_hashes(const std::vector<Hash128>& hashes) {
  if (done()) return Status::InvalidArgument("the comparison is over");
  if (hashes.size() != question_.indices.size()) {
    return Status::InvalidArgument("expected " + std::to_string(question_.indices.size()) +
                                   " hashes, got " + std::to_string(hashes.size()));
  }
  nodes_compared_ += hashes.size();
  const size_t level = question_.level;
  std::vector<size_t> next;
  for (size_t k = 0; k < hashes.size(); ++k) {
    const size_t index = question_.indices[k];
    if (local_->hash(level, index) == hashes[k]) continue;
    if (level == local_->depth()) {
      differing_.push_back(index);
    } else {
      next.push_back(2 * index);
      next.push_back(2 * index + 1);
    }
  }
  question_.level = level + 1;
  question_.indices = std::move(next);
  return Status::OK();
}

}  // namespace chorus
