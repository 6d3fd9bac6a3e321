// Tests for the YCSB zipfian generators: exact values where the formula gives them, and the
// distribution's shape over a deterministic grid of uniform draws (no RNG).
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "bench/zipfian.h"

using namespace chorus::bench;

namespace {

// Counts of each rank over `draws` evenly spaced u in [0, 1).
std::vector<uint64_t> rank_counts(const ZipfianGenerator& generator, uint64_t draws) {
  std::vector<uint64_t> counts(generator.items(), 0);
  for (uint64_t i = 0; i < draws; ++i) {
    ++counts[generator.value_for((static_cast<double>(i) + 0.5) / static_cast<double>(draws))];
  }
  return counts;
}

}  // namespace

TEST_CASE("zeta sums 1/i^theta") {
  REQUIRE(zeta(1, 0.99) == Approx(1.0));
  REQUIRE(zeta(2, 0.99) == Approx(1.0 + std::pow(2.0, -0.99)));
  REQUIRE(zeta(3, 0.5) == Approx(1.0 + 1.0 / std::sqrt(2.0) + 1.0 / std::sqrt(3.0)));
}

TEST_CASE("fnv_hash64 matches YCSB's FNV-1a over 8 bytes with Math.abs") {
  // Reference values computed independently from YCSB's Utils.fnvhash64.
  REQUIRE(fnv_hash64(0) == 6284781860667377211ULL);
  REQUIRE(fnv_hash64(1) == 8517097267634966620ULL);
  REQUIRE(fnv_hash64(42) == 55488592825689361ULL);
}

TEST_CASE("zipfian ranks stay in range and grow with u") {
  const ZipfianGenerator generator(1000, 0.99);
  REQUIRE(generator.value_for(0.0) == 0);
  REQUIRE(generator.value_for(std::nextafter(1.0, 0.0)) < 1000);
  uint64_t previous = 0;
  for (int i = 0; i < 10000; ++i) {
    const uint64_t rank = generator.value_for(i / 10000.0);
    REQUIRE(rank < 1000);
    REQUIRE(rank >= previous);
    previous = rank;
  }
}

TEST_CASE("zipfian puts 1/zeta(n) of the mass on rank 0 and follows 1/(k+1)^theta") {
  constexpr uint64_t kItems = 1000;
  constexpr uint64_t kDraws = 1'000'000;
  constexpr double kTheta = 0.99;
  const ZipfianGenerator generator(kItems, kTheta);
  const std::vector<uint64_t> counts = rank_counts(generator, kDraws);
  const double zetan = zeta(kItems, kTheta);
  // Ranks 0 and 1 are exact in YCSB's algorithm; later ranks come from a continuous
  // approximation, good to a few percent for the head of the distribution.
  REQUIRE(counts[0] / double(kDraws) == Approx(1.0 / zetan).epsilon(0.001));
  REQUIRE(counts[1] / double(kDraws) == Approx(std::pow(0.5, kTheta) / zetan).epsilon(0.001));
  for (uint64_t k = 2; k < 10; ++k) {
    const double expected = 1.0 / std::pow(double(k + 1), kTheta) / zetan;
    REQUIRE(counts[k] / double(kDraws) == Approx(expected).epsilon(0.25));
  }
  REQUIRE(counts[0] > counts[10] * 5);
}

TEST_CASE("a single item is always chosen") {
  const ZipfianGenerator generator(1, 0.5);
  REQUIRE(generator.value_for(0.0) == 0);
  REQUIRE(generator.value_for(0.999) == 0);
  const ScrambledZipfianGenerator scrambled(1, 0.99);
  REQUIRE(scrambled.value_for(0.7) == 0);
}

TEST_CASE("scrambled zipfian hashes ranks over the key space") {
  for (double theta : {kYcsbTheta, 0.8}) {
    const ScrambledZipfianGenerator generator(100'000, theta);
    // The most popular rank is 0, so the hottest key is fnv(0) mod items, not key 0.
    REQUIRE(generator.value_for(0.0) == fnv_hash64(0) % 100'000);
    for (int i = 0; i < 10000; ++i) REQUIRE(generator.value_for(i / 10000.0) < 100'000);
  }
}

TEST_CASE("scrambled zipfian with YCSB's theta uses YCSB's item count and zeta") {
  const ScrambledZipfianGenerator generator(1000, kYcsbTheta);
  const ZipfianGenerator ranks(kYcsbItems, kYcsbTheta, kYcsbZetan);
  for (double u : {0.0, 0.01, 0.2, 0.5, 0.9, 0.999}) {
    REQUIRE(generator.value_for(u) == fnv_hash64(ranks.value_for(u)) % 1000);
  }
}
