// Bucket sync: which keys to send and which to fetch, checked against brute force, and the
// key-version list encoding.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "antientropy/bucket_diff.h"

namespace chorus {
namespace {

using Keys = std::vector<std::string>;

TEST_CASE("bucket diff: one-sided keys go across and the newer version wins") {
  std::vector<KeyVersion> local = {{"a", Timestamp{5}, 1},
                                   {"b", Timestamp{9}, 2},
                                   {"c", Timestamp{3}, 3},
                                   {"same", Timestamp{4}, 4}};
  std::vector<KeyVersion> remote = {{"same", Timestamp{4}, 4},
                                    {"c", Timestamp{8}, 7},
                                    {"b", Timestamp{1}, 2},
                                    {"d", Timestamp{2}, 5}};
  BucketDiff diff = diff_bucket(local, remote);
  CHECK(diff.send == Keys{"a", "b"});
  CHECK(diff.fetch == Keys{"c", "d"});
}

TEST_CASE("bucket diff: equal timestamps with different digests go both ways") {
  BucketDiff diff = diff_bucket({{"k", Timestamp{5}, 1}}, {{"k", Timestamp{5}, 2}});
  CHECK(diff.send == Keys{"k"});
  CHECK(diff.fetch == Keys{"k"});
  BucketDiff none = diff_bucket({{"k", Timestamp{5}, 1}}, {{"k", Timestamp{5}, 1}});
  CHECK(none.send.empty());
  CHECK(none.fetch.empty());
}

TEST_CASE("bucket diff: matches brute force on random buckets") {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    std::map<std::string, KeyVersion> mine;
    std::map<std::string, KeyVersion> theirs;
    for (int k = 0; k < 40; ++k) {
      const std::string key = "k" + std::to_string(rng() % 60);
      const KeyVersion v{key, Timestamp{rng() % 4}, rng() % 2};
      (rng() % 2 == 0 ? mine : theirs)[key] = v;
      if (rng() % 3 == 0) mine[key] = theirs[key] = v;
    }
    std::vector<KeyVersion> local;
    std::vector<KeyVersion> remote;
    for (auto& [k, v] : mine) local.push_back(v);
    for (auto& [k, v] : theirs) remote.push_back(v);
    std::shuffle(local.begin(), local.end(), rng);
    std::shuffle(remote.begin(), remote.end(), rng);

    Keys send;
    Keys fetch;
    std::set<std::string> keys;
    for (auto& [k, v] : mine) keys.insert(k);
    for (auto& [k, v] : theirs) keys.insert(k);
    for (const std::string& k : keys) {
      const bool a = mine.count(k) != 0;
      const bool b = theirs.count(k) != 0;
      if (a && !b) send.push_back(k);
      if (b && !a) fetch.push_back(k);
      if (!(a && b)) continue;
      const KeyVersion& x = mine[k];
      const KeyVersion& y = theirs[k];
      if (x.ts == y.ts && x.digest == y.digest) continue;
      if (y.ts < x.ts || x.ts == y.ts) send.push_back(k);
      if (x.ts < y.ts || x.ts == y.ts) fetch.push_back(k);
    }
    BucketDiff diff = diff_bucket(local, remote);
    CHECK(diff.send == send);
    CHECK(diff.fetch == fetch);
  }
}

TEST_CASE("bucket diff: key-version lists round-trip and damage is corruption") {
  std::vector<KeyVersion> list = {{"a", Timestamp{1}, 2}, {"user/42", Timestamp{99}, 7}};
  const std::string bytes = encode_key_versions(list);
  std::vector<KeyVersion> back;
  REQUIRE(decode_key_versions(bytes, &back).ok());
  REQUIRE(back.size() == 2);
  CHECK(back[1].key == "user/42");
  CHECK(back[1].ts == Timestamp{99});
  CHECK(back[1].digest == 7);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    CHECK(decode_key_versions(bytes.substr(0, cut), &back).is_corruption());
  }
  CHECK(decode_key_versions(bytes + "x", &back).is_corruption());
  std::vector<KeyVersion> too_many(kBucketKeysMax + 1, KeyVersion{"k", Timestamp{1}, 1});
  CHECK(decode_key_versions(encode_key_versions(too_many), &back).is_corruption());
}

}  // namespace
}  // namespace chorus
