// Merkle trees over index entries and the top-down comparison: equal contents give equal roots
// whatever the order, a difference is found exactly (checked against brute force), and the walk
// costs in proportion to the difference, not to the tree.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "antientropy/merkle_tree.h"

namespace chorus {
namespace {

struct Entry {
  std::string key;
  Timestamp ts;
  uint64_t digest;
};

std::vector<Entry> random_entries(std::mt19937_64* rng, size_t count) {
  std::vector<Entry> out;
  for (size_t i = 0; i < count; ++i) {
    out.push_back({"key-" + std::to_string((*rng)()), Timestamp{(*rng)() >> 1}, (*rng)()});
  }
  return out;
}

MerkleTree tree_of(const std::vector<Entry>& entries, size_t leaves = kMerkleLeavesDefault) {
  auto tree = MerkleTree::create(leaves);
  REQUIRE(tree.ok());
  for (const Entry& e : entries) tree->add(e.key, e.ts, e.digest);
  return std::move(*tree);
}

// Runs the comparison of `local` against `remote` as the exchange protocol would.
TreeComparison compare(const MerkleTree& local, const MerkleTree& remote) {
  TreeComparison walk(&local);
  while (!walk.done()) {
    std::vector<Hash128> answer;
    for (size_t index : walk.question().indices) {
      answer.push_back(remote.hash(walk.question().level, index));
    }
    REQUIRE(walk.on_hashes(answer).ok());
  }
  return walk;
}

TEST_CASE("merkle tree: equal contents give equal roots in any order") {
  std::mt19937_64 rng(7);
  auto entries = random_entries(&rng, 500);
  MerkleTree a = tree_of(entries);
  std::shuffle(entries.begin(), entries.end(), rng);
  MerkleTree b = tree_of(entries);
  CHECK(a.root() == b.root());
  CHECK(a.entries() == 500);
  auto empty = MerkleTree::create();
  REQUIRE(empty.ok());
  CHECK(empty->root() != a.root());
}

TEST_CASE("merkle tree: removing an entry restores the earlier hashes") {
  std::mt19937_64 rng(8);
  auto entries = random_entries(&rng, 100);
  MerkleTree tree = tree_of(entries);
  const Hash128 before = tree.root();
  tree.add("extra", Timestamp{42}, 7);
  CHECK(tree.root() != before);
  tree.remove("extra", Timestamp{42}, 7);
  CHECK(tree.root() == before);
}

TEST_CASE("merkle tree: the same key at another version changes its leaf and the root") {
  MerkleTree a = tree_of({{"k", Timestamp{10}, 1}});
  MerkleTree b = tree_of({{"k", Timestamp{11}, 1}});
  MerkleTree c = tree_of({{"k", Timestamp{10}, 2}});
  CHECK(a.root() != b.root());
  CHECK(a.root() != c.root());
  const size_t leaf = a.leaf_of("k");
  CHECK(a.hash(a.depth(), leaf) != b.hash(b.depth(), leaf));
  for (size_t i = 0; i < a.leaves(); ++i) {
    if (i != leaf) CHECK(a.hash(a.depth(), i) == b.hash(b.depth(), i));
  }
}

TEST_CASE("merkle tree: leaf counts must be powers of two within the bound") {
  CHECK(MerkleTree::create(0).status().code() == Status::Code::kInvalidArgument);
  CHECK(MerkleTree::create(48).status().code() == Status::Code::kInvalidArgument);
  CHECK(MerkleTree::create(kMerkleLeavesMax * 2).status().code() == Status::Code::kInvalidArgument);
  auto one = MerkleTree::create(1);
  REQUIRE(one.ok());
  CHECK(one->depth() == 0);
  auto many = MerkleTree::create(1024);
  REQUIRE(many.ok());
  CHECK(many->depth() == 10);
}

TEST_CASE("merkle comparison: identical trees cost one node") {
  std::mt19937_64 rng(9);
  auto entries = random_entries(&rng, 300);
  TreeComparison walk = compare(tree_of(entries), tree_of(entries));
  CHECK(walk.differing_leaves().empty());
  CHECK(walk.nodes_compared() == 1);
}

TEST_CASE("merkle comparison: finds exactly the differing leaves at a cost set by the difference") {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    const size_t leaves = size_t{1} << (rng() % 9);  // 1..256
    auto shared = random_entries(&rng, 50 + rng() % 500);
    std::vector<Entry> only_a = random_entries(&rng, rng() % 4);
    std::vector<Entry> only_b = random_entries(&rng, rng() % 4);
    std::vector<Entry> a_entries = shared;
    a_entries.insert(a_entries.end(), only_a.begin(), only_a.end());
    std::vector<Entry> b_entries = shared;
    b_entries.insert(b_entries.end(), only_b.begin(), only_b.end());
    MerkleTree a = tree_of(a_entries, leaves);
    MerkleTree b = tree_of(b_entries, leaves);

    // Brute force: the leaves holding a key present on one side only.
    std::set<size_t> expected;
    for (const Entry& e : only_a) expected.insert(a.leaf_of(e.key));
    for (const Entry& e : only_b) expected.insert(a.leaf_of(e.key));
    TreeComparison walk = compare(a, b);
    CHECK(std::set<size_t>(walk.differing_leaves().begin(), walk.differing_leaves().end()) ==
          expected);
    CHECK(walk.nodes_compared() <= 1 + 2 * a.depth() * expected.size());
  }
}

TEST_CASE("merkle comparison: an answer of the wrong size is refused") {
  MerkleTree a = tree_of({{"k", Timestamp{1}, 1}});
  TreeComparison walk(&a);
  CHECK(walk.on_hashes({}).code() == Status::Code::kInvalidArgument);
  CHECK(walk.on_hashes({Hash128{0, 1}, Hash128{0, 2}}).code() == Status::Code::kInvalidArgument);
  CHECK_FALSE(walk.done());
}

}  // namespace
}  // namespace chorus
