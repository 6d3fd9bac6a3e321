// Suspicion timeout formula and timers.
#include <catch2/catch.hpp>

#include "membership/swim/suspicion.h"

using namespace chorus::swim;

TEST_CASE("swim suspicion: timeout is mult * log10(n + 1) * interval with a floor") {
  // Defaults: mult 4, interval 200 ms, floor 1000 ms.
  CHECK(suspicion_timeout_ms(1, 200, 4.0, 1000) == 1000);
  CHECK(suspicion_timeout_ms(3, 200, 4.0, 1000) == 1000);     // 482 ms raw: the floor wins
  CHECK(suspicion_timeout_ms(50, 200, 4.0, 1000) == 1366);    // 4 * 1.7076 * 200
  CHECK(suspicion_timeout_ms(1024, 200, 4.0, 1000) == 2409);  // 4 * 3.0107 * 200
  CHECK(suspicion_timeout_ms(9, 1000, 5.0, 0) == 5000);
  uint64_t previous = 0;
  for (size_t n = 1; n <= 1024; ++n) {
    const uint64_t t = suspicion_timeout_ms(n, 200, 4.0, 1000);
    REQUIRE(t >= previous);
    previous = t;
  }
}

TEST_CASE("swim suspicion: a running timer keeps its first deadline and cancel stops it") {
  SuspicionTimers timers;
  timers.start("a", 1000);
  timers.start("a", 5000);  // suspected again: the deadline does not move
  timers.start("b", 1500);
  timers.start("c", 900);
  timers.cancel("c");
  CHECK(timers.take_expired(999).empty());
  CHECK(timers.take_expired(1000) == std::vector<std::string>{"a"});
  CHECK(!timers.running("a"));
  CHECK(timers.running("b"));
  CHECK(timers.take_expired(10'000) == std::vector<std::string>{"b"});
  CHECK(timers.size() == 0);
}
