// LatencyHistogram: a fixed-size latency histogram in the style of HdrHistogram, for the load
// generator's per-operation percentiles.
//
// Values are microseconds from 0 to kMaxMicros (60 s); larger values are clamped to kMaxMicros and
// counted in overflow_count(). Values below kSubBuckets (256 us) have a bucket each; above that,
// each power of two is split into kSubBuckets / 2 equal buckets, so a reported value is within
// 1/128 (< 1%) of the recorded one. Memory is fixed (kBucketCount counters, ~20 KiB) whatever the
// run length.
//
// Thread-safety: none; give each writer its own histogram and merge() them once writers stopped.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace chorus::bench {

// Bucket layout, outside the class so the class can size its array with it.
constexpr uint64_t kLatencyMaxMicros = 60'000'000;
constexpr int kLatencySubBucketBits = 8;
constexpr uint64_t kLatencySubBuckets = uint64_t{1} << kLatencySubBucketBits;

// Bucket that holds `micros` (already clamped to kLatencyMaxMicros).
constexpr size_t latency_bucket_of(uint64_t micros) {
  // Magnitude: how many low bits a bucket of this size ignores.
  int magnitude = 0;
  while ((micros >> magnitude) >= kLatencySubBuckets) ++magnitude;
  // In [kLatencySubBuckets / 2, kLatencySubBuckets) once magnitude > 0.
  const uint64_t sub_bucket = micros >> magnitude;
  return static_cast<size_t>(uint64_t(magnitude) * (kLatencySubBuckets / 2) + sub_bucket);
}

class LatencyHistogram {
 public:
  static constexpr uint64_t kMaxMicros = kLatencyMaxMicros;
  static constexpr uint64_t kSubBuckets = kLatencySubBuckets;
  static constexpr size_t kBucketCount = latency_bucket_of(kMaxMicros) + 1;

  static constexpr size_t bucket_of(uint64_t micros) { return latency_bucket_of(micros); }
  // Highest value that falls into `bucket`: what percentiles report, as HdrHistogram does.
  static uint64_t highest_in_bucket(size_t bucket);

  void record(uint64_t micros);
  void merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t overflow_count() const { return overflow_count_; }
  uint64_t max_micros() const { return max_micros_; }
  uint64_t min_micros() const { return count_ == 0 ? 0 : min_micros_; }
  double mean_micros() const { return count_ == 0 ? 0.0 : double(sum_micros_) / double(count_); }
  // Smallest recorded value v such that at least `percentile`% of the values are <= v, up to the
  // bucket precision and never above max_micros(). 0 when empty. percentile is in [0, 100].
  uint64_t value_at_percentile(double percentile) const;

 private:
  std::array<uint64_t, kBucketCount> buckets_{};
  uint64_t count_ = 0;
  uint64_t overflow_count_ = 0;
  uint64_t sum_micros_ = 0;
  uint64_t min_micros_ = UINT64_MAX;
  uint64_t max_micros_ = 0;
};

static_assert(LatencyHistogram::bucket_of(LatencyHistogram::kSubBuckets - 1) ==
                  LatencyHistogram::kSubBuckets - 1,
              "values below kSubBuckets are recorded exactly");
static_assert(LatencyHistogram::kBucketCount < 4096,
              "the histogram must stay small per connection");

}  // namespace chorus::bench
