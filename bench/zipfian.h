// Zipfian key popularity as YCSB generates it (site.ycsb.generator.ZipfianGenerator and
// ScrambledZipfianGenerator, after Gray et al., "Quickly Generating Billion-Record Synthetic
// Databases", SIGMOD 1994), so our skewed runs are comparable with published YCSB figures.
//
// The generators are pure: value_for(u) maps a uniform draw u in [0, 1) to an item, so callers
// bring their own seeded RNG and tests need none. Construction may be O(items) (the zeta sum);
// value_for() is O(1).
//
// Thread-safety: immutable after construction; share freely.
#pragma once

#include <cstdint>

namespace chorus::bench {

// YCSB's default skew and the item count its scrambled generator draws from, with zeta(kYcsbItems,
// kYcsbTheta) precomputed by YCSB (summing 10^10 terms at start-up would take minutes).
constexpr double kYcsbTheta = 0.99;
constexpr uint64_t kYcsbItems = 10'000'000'000ULL;
constexpr double kYcsbZetan = 26.46902820178302;

// sum_{i=1..n} 1 / i^theta. O(n).
double zeta(uint64_t n, double theta);

// YCSB's 64-bit FNV-1a over the value's 8 little-endian bytes, then Java's Math.abs.
uint64_t fnv_hash64(uint64_t value);

// Ranks 0..items-1 with P(rank k) proportional to 1 / (k+1)^theta; rank 0 is the most popular.
class ZipfianGenerator {
 public:
  // Requires items >= 1 and 0 < theta < 1. Computes zeta(items, theta): O(items).
  ZipfianGenerator(uint64_t items, double theta);
  // Same, with zeta(items, theta) supplied by the caller.
  ZipfianGenerator(uint64_t items, double theta, double zetan);

  // The rank for uniform draw u in [0, 1); non-decreasing in u; always < items().
  uint64_t value_for(double u) const;
  uint64_t items() const { return items_; }

 private:
  uint64_t items_;
  double zetan_;
  double alpha_;
  double eta_;
  double half_pow_theta_;  // 0.5^theta: the probability mass boundary of rank 1
};

// Zipfian popularity with the popular items scattered over the key space instead of clustered at
// 0, 1, 2, ...: value = fnv_hash64(zipfian rank) mod items. As in YCSB, with theta == kYcsbTheta
// the ranks come from a zipfian over kYcsbItems (constant, fast to build); with another theta they
// come from a zipfian over `items` (zeta computed at construction, O(items)).
class ScrambledZipfianGenerator {
 public:
  // Requires items >= 1 and 0 < theta < 1.
  ScrambledZipfianGenerator(uint64_t items, double theta);

  // An item in [0, items) for uniform draw u in [0, 1).
  uint64_t value_for(double u) const;
  uint64_t items() const { return items_; }

 private:
  uint64_t items_;
  ZipfianGenerator ranks_;
};

}  // namespace chorus::bench
