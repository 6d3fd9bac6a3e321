// Tests for LatencyHistogram: bucket boundaries, precision, percentiles, clamping and merging.
#include <catch2/catch.hpp>

#include "bench/histogram.h"

using chorus::bench::LatencyHistogram;

TEST_CASE("buckets are exact below kSubBuckets and within 1/128 above") {
  for (uint64_t v = 0; v < LatencyHistogram::kSubBuckets; ++v) {
    REQUIRE(LatencyHistogram::highest_in_bucket(LatencyHistogram::bucket_of(v)) == v);
  }
  for (uint64_t v = LatencyHistogram::kSubBuckets; v <= LatencyHistogram::kMaxMicros;
       v = v * 101 / 100 + 1) {
    const uint64_t high = LatencyHistogram::highest_in_bucket(LatencyHistogram::bucket_of(v));
    REQUIRE(high >= v);
    REQUIRE(static_cast<double>(high - v) <= static_cast<double>(v) / 128.0);
  }
}

TEST_CASE("bucket_of and highest_in_bucket are inverse and monotonic") {
  size_t previous = 0;
  for (size_t b = 0; b < LatencyHistogram::kBucketCount; ++b) {
    const uint64_t high = LatencyHistogram::highest_in_bucket(b);
    REQUIRE(LatencyHistogram::bucket_of(high) == b);
    REQUIRE(LatencyHistogram::bucket_of(high + 1) == b + 1);
    REQUIRE(b >= previous);
    previous = b;
  }
  REQUIRE(LatencyHistogram::bucket_of(LatencyHistogram::kMaxMicros) ==
          LatencyHistogram::kBucketCount - 1);
}

TEST_CASE("percentiles of 1..1000 us") {
  LatencyHistogram h;
  REQUIRE(h.value_at_percentile(50) == 0);
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v);
  REQUIRE(h.count() == 1000);
  REQUIRE(h.min_micros() == 1);
  REQUIRE(h.max_micros() == 1000);
  REQUIRE(h.mean_micros() == Approx(500.5));
  REQUIRE(h.value_at_percentile(0) == 1);
  REQUIRE(h.value_at_percentile(50) == Approx(500).epsilon(0.01));
  REQUIRE(h.value_at_percentile(99) == Approx(990).epsilon(0.01));
  REQUIRE(h.value_at_percentile(100) == 1000);
}

TEST_CASE("values past the maximum are clamped and counted") {
  LatencyHistogram h;
  h.record(LatencyHistogram::kMaxMicros * 10);
  REQUIRE(h.overflow_count() == 1);
  REQUIRE(h.max_micros() == LatencyHistogram::kMaxMicros);
  REQUIRE(h.value_at_percentile(50) == LatencyHistogram::kMaxMicros);
}

TEST_CASE("merge adds counts and keeps extremes") {
  LatencyHistogram a;
  LatencyHistogram b;
  a.record(10);
  b.record(5000);
  b.record(7);
  a.merge(b);
  REQUIRE(a.count() == 3);
  REQUIRE(a.min_micros() == 7);
  REQUIRE(a.max_micros() == 5000);
  REQUIRE(a.value_at_percentile(50) == 10);
  LatencyHistogram empty;
  a.merge(empty);
  REQUIRE(a.min_micros() == 7);
}
