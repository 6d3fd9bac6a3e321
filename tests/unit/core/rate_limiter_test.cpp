// RateLimiter over explicit time: a token bucket for hint delivery, a pacer for streams and
// anti-entropy.
#include "core/rate_limiter.h"

#include <catch2/catch.hpp>

namespace chorus {

TEST_CASE("rate limiter: a bucket hands out its burst, then refills at the rate") {
  RateLimiter bucket(100, 100, 0);  // 100 a second, bursts of 100
  CHECK(bucket.available(0) == 100);
  bucket.spend(100, 0);
  CHECK(bucket.available(0) == 0);
  CHECK(bucket.wait_ms(0, 10) == 100);  // 10 units at 100/s
  CHECK(bucket.available(250) == 25);
  // Never more than the burst, however long it waited.
  CHECK(bucket.available(60'000) == 100);
}

TEST_CASE("rate limiter: with no burst it paces work by what the work cost") {
  RateLimiter pacer(1 << 20, 0, 1'000);  // 1 MiB/s
  CHECK(pacer.wait_ms(1'000) == 0);
  pacer.spend(512 << 10, 1'000);  // half a MiB: the next start waits half a second
  CHECK(pacer.wait_ms(1'000) == 500);
  // ... less the time the work itself took.
  CHECK(pacer.wait_ms(1'200) == 300);
  CHECK(pacer.wait_ms(1'500) == 0);
  // Idle time does not bank credit.
  CHECK(pacer.available(10'000) == 0);
  pacer.spend(1 << 20, 10'000);
  CHECK(pacer.wait_ms(10'000) == 1'000);
}

TEST_CASE("rate limiter: overdrawing twice adds up, and time never runs backwards") {
  RateLimiter pacer(1'000, 0, 0);
  pacer.spend(500, 0);
  pacer.spend(500, 0);
  CHECK(pacer.wait_ms(0) == 1'000);
  CHECK(pacer.wait_ms(0) == pacer.wait_ms(0));  // asking does not change it
  CHECK(pacer.wait_ms(400) == 600);
  CHECK(pacer.wait_ms(300) == 600);  // an earlier time than seen: no refill, no change
}

}  // namespace chorus
