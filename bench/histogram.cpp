// LatencyHistogram: log-bucketed latency counts (see histogram.h).
#include "bench/histogram.h"

#include <algorithm>
#include <cmath>

namespace chorus::bench {

uint64_t LatencyHistogram::highest_in_bucket(size_t bucket) {
  constexpr uint64_t kHalf = kSubBuckets / 2;
  if (bucket < kSubBuckets) return bucket;  // exact buckets
  // Inverse of bucket_of(): bucket = magnitude * kHalf + sub_bucket, sub_bucket in [kHalf,
  // 2*kHalf).
  const uint64_t magnitude = (bucket - kHalf) / kHalf;
  const uint64_t sub_bucket = bucket - magnitude * kHalf;
  return ((sub_bucket + 1) << magnitude) - 1;
}

void LatencyHistogram::record(uint64_t micros) {
  if (micros > kMaxMicros) {
    ++overflow_count_;
    micros = kMaxMicros;
  }
  ++buckets_[bucket_of(micros)];
  ++count_;
  sum_micros_ += micros;
  min_micros_ = std::min(min_micros_, micros);
  max_micros_ = std::max(max_micros_, micros);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  overflow_count_ += other.overflow_count_;
  sum_micros_ += other.sum_micros_;
  min_micros_ = std::min(min_micros_, other.min_micros_);
  max_micros_ = std::max(max_micros_, other.max_micros_);
}

uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // Rank of the wanted value, 1-based; at least 1 so p0 reports the minimum's bucket.
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(highest_in_bucket(i), min_micros(), max_micros_);
  }
  return max_micros_;
}

}  // namespace chorus::bench
