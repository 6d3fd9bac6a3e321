#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "core/hlc.h"

using namespace chorus;

TEST_CASE("HLC packs 48-bit physical ms and 16-bit logical") {
  Timestamp t = Timestamp::from_parts(1'700'000'000'123, 42);
  REQUIRE(t.physical_ms() == 1'700'000'000'123);
  REQUIRE(t.logical() == 42);
  REQUIRE(Timestamp::from_parts(5, 65535) < Timestamp::from_parts(6, 0));
}

TEST_CASE("HLC now() is strictly increasing while the wall clock stands still or goes back") {
  ManualClock clock(1'000'000);
  HlcClock hlc(&clock);
  Timestamp a = hlc.now();
  REQUIRE(a == Timestamp::from_parts(1'000'000, 0));
  Timestamp b = hlc.now();
  REQUIRE(b == Timestamp::from_parts(1'000'000, 1));
  clock.set_wall_ms(999'000);  // NTP stepped back a second
  Timestamp c = hlc.now();
  REQUIRE(c > b);
  REQUIRE(c.physical_ms() == 1'000'000);
  clock.set_wall_ms(1'000'005);
  REQUIRE(hlc.now() == Timestamp::from_parts(1'000'005, 0));
}

TEST_CASE("HLC logical overflow carries into the physical part and keeps order") {
  ManualClock clock(10);
  HlcClock hlc(&clock);
  Timestamp prev = hlc.now();
  for (int i = 0; i < 70'000; ++i) {
    Timestamp next = hlc.now();
    REQUIRE(next > prev);
    prev = next;
  }
  REQUIRE(prev.physical_ms() == 11);
}

TEST_CASE("HLC observe() makes later stamps exceed a peer's timestamp") {
  ManualClock clock(1'000'000);
  HlcClock hlc(&clock);
  Timestamp remote = Timestamp::from_parts(1'000'500, 7);  // peer 500 ms ahead
  REQUIRE(hlc.observe(remote).ok());
  REQUIRE(hlc.now() > remote);
}

TEST_CASE("HLC refuses a peer timestamp beyond the drift bound and does not adopt it") {
  ManualClock clock(1'000'000);
  HlcClock hlc(&clock, /*max_forward_drift_ms=*/60'000);
  Status st = hlc.observe(Timestamp::from_parts(1'000'000 + 60'001, 0));
  REQUIRE(st.code() == Status::Code::kInvalidArgument);
  REQUIRE(hlc.now().physical_ms() == 1'000'000);
}

TEST_CASE("HLC hands out unique timestamps across threads") {
  ManualClock clock(1'000'000);
  HlcClock hlc(&clock);
  constexpr int kThreads = 4, kEach = 20'000;
  std::vector<std::vector<uint64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) seen[t].push_back(hlc.now().packed);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<uint64_t> all;
  for (auto& s : seen) {
    REQUIRE(std::is_sorted(s.begin(), s.end()));
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end());
  REQUIRE(std::adjacent_find(all.begin(), all.end()) == all.end());
}

TEST_CASE("Versions order by timestamp - then by origin id") {
  Timestamp t = Timestamp::from_parts(100, 0);
  REQUIRE(newer_than(VersionRef{Timestamp::from_parts(100, 1), "a"}, VersionRef{t, "z"}));
  REQUIRE(newer_than(VersionRef{t, "n2"}, VersionRef{t, "n1"}));
  REQUIRE_FALSE(newer_than(VersionRef{t, "n1"}, VersionRef{t, "n1"}));
}
