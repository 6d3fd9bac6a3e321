#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ring/partitioner.h"

using namespace chorus;

TEST_CASE("is_valid_partition_count accepts exactly the powers of two up to kPartitionsMax") {
  for (uint32_t p = 1; p <= kPartitionsMax; p *= 2) {
    INFO(p);
    REQUIRE(is_valid_partition_count(p));
  }
  for (uint32_t bad : {0u, 3u, 6u, 255u, 257u, 1000u, kPartitionsMax - 1, kPartitionsMax + 1,
                       kPartitionsMax * 2, UINT32_MAX}) {
    INFO(bad);
    REQUIRE_FALSE(is_valid_partition_count(bad));
  }
  REQUIRE(is_valid_partition_count(kPartitionsDefault));
}

// The partition of a key is part of the on-disk format: these values must never change.
TEST_CASE("partition_of is the low bits of XXH3-64 and never changes") {
  REQUIRE(partition_of("", 256) == (0x2d06800538d394c2ull & 255));
  REQUIRE(partition_of("a", 256) == (0xe6c632b61e964e1full & 255));
  REQUIRE(partition_of("user:42", 256) == (0x9fc1e605fa7174aaull & 255));
  REQUIRE(partition_of("chorus", 65536) == (0xd8d7e710c1fbd128ull & 65535));
  REQUIRE(partition_of("chorus", 1) == 0);
  // Same key, same answer, whatever the buffer it sits in.
  std::string owned = "prefix/user:42/suffix";
  REQUIRE(partition_of(std::string_view(owned).substr(7, 7), 256) == partition_of("user:42", 256));
}

TEST_CASE("partition_of stays in range - and doubling P splits each partition in two") {
  for (uint32_t partitions = 1; partitions <= kPartitionsMax; partitions *= 4) {
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const uint32_t p = partition_of(key, partitions);
      REQUIRE(p < partitions);
      if (partitions * 2 <= kPartitionsMax) {
        REQUIRE(partition_of(key, partitions * 2) % partitions == p);
      }
    }
  }
}

TEST_CASE("partition_of spreads keys evenly over the default partitions") {
  constexpr int kKeys = 100'000;
  std::vector<int> count(kPartitionsDefault, 0);
  for (int i = 0; i < kKeys; ++i)
    ++count[partition_of("k" + std::to_string(i), kPartitionsDefault)];
  const double mean = double(kKeys) / kPartitionsDefault;  // ~390, binomial sd ~20
  for (uint32_t p = 0; p < kPartitionsDefault; ++p) {
    INFO("partition " << p << " has " << count[p] << " keys, mean " << mean);
    REQUIRE(count[p] > mean * 0.8);
    REQUIRE(count[p] < mean * 1.2);
  }
}
