// YCSB zipfian and scrambled zipfian generators (see zipfian.h). Formulas follow YCSB's
// ZipfianGenerator.nextLong line for line so distributions match.
#include "bench/zipfian.h"

#include <cassert>
#include <cmath>

namespace chorus::bench {

double zeta(uint64_t n, double theta) {
  double sum = 0.0;
  for (uint64_t i = 1; i <= n; ++i) sum += 1.0 / std::pow(static_cast<double>(i), theta);
  return sum;
}

uint64_t fnv_hash64(uint64_t value) {
  constexpr uint64_t kOffsetBasis = 0xCBF29CE484222325ULL;
  constexpr uint64_t kPrime = 1099511628211ULL;
  uint64_t hash = kOffsetBasis;
  for (int i = 0; i < 8; ++i) {
    hash ^= value & 0xff;
    hash *= kPrime;
    value >>= 8;
  }
  // Java's Math.abs on a long: negate when the sign bit is set (INT64_MIN stays as is).
  if (hash >> 63) hash = ~hash + 1;
  return hash;
}

ZipfianGenerator::ZipfianGenerator(uint64_t items, double theta)
    : ZipfianGenerator(items, theta, zeta(items, theta)) {}

ZipfianGenerator::ZipfianGenerator(uint64_t items, double theta, double zetan)
    : items_(items), zetan_(zetan) {
  assert(items >= 1 && theta > 0.0 && theta < 1.0);
  const double zeta2 = zeta(2, theta);
  alpha_ = 1.0 / (1.0 - theta);
  eta_ = (1.0 - std::pow(2.0 / static_cast<double>(items), 1.0 - theta)) / (1.0 - zeta2 / zetan);
  half_pow_theta_ = std::pow(0.5, theta);
}

uint64_t ZipfianGenerator::value_for(double u) const {
  const double uz = u * zetan_;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + half_pow_theta_) return items_ > 1 ? 1 : 0;
  const double rank = static_cast<double>(items_) * std::pow(eta_ * u - eta_ + 1.0, alpha_);
  // Rounding at u -> 1 can land on items_; YCSB would overflow here too, we clamp instead.
  if (!(rank < static_cast<double>(items_))) return items_ - 1;
  return static_cast<uint64_t>(rank);
}

ScrambledZipfianGenerator::ScrambledZipfianGenerator(uint64_t items, double theta)
    : items_(items),
      ranks_(theta == kYcsbTheta ? ZipfianGenerator(kYcsbItems, theta, kYcsbZetan)
                                 : ZipfianGenerator(items, theta)) {}

uint64_t ScrambledZipfianGenerator::value_for(double u) const {
  return fnv_hash64(ranks_.value_for(u)) % items_;
}

}  // namespace chorus::bench
