#include <catch2/catch.hpp>

#include "replication/messages.h"

using namespace chorus;

TEST_CASE("Replica messages round-trip") {
  ReplicaWrite w;
  w.sender_hlc = Timestamp::from_parts(123, 4);
  w.key = "user/42";
  w.partition = 17;
  w.record.value = "v";
  w.record.ts = Timestamp::from_parts(120, 0);
  w.record.origin = "n1";
  w.sync = true;
  w.hint_for = "n3";
  w.view_epoch = 42;
  ReplicaWrite w2;
  REQUIRE(decode(encode(w), &w2).ok());
  REQUIRE(w2.sender_hlc == w.sender_hlc);
  REQUIRE(w2.key == w.key);
  REQUIRE(w2.partition == 17);
  REQUIRE(w2.record.value == "v");
  REQUIRE(w2.sync);
  REQUIRE(w2.hint_for == "n3");
  REQUIRE(w2.view_epoch == 42);

  ReplicaWriteReply r{Timestamp::from_parts(5, 0), false, Timestamp::from_parts(6, 1), "n2"};
  ReplicaWriteReply r2;
  REQUIRE(decode(encode(r), &r2).ok());
  REQUIRE_FALSE(r2.applied);
  REQUIRE(r2.current_ts == r.current_ts);
  REQUIRE(r2.current_origin == "n2");

  ReplicaReadReply rr;
  rr.found = true;
  rr.record = w.record;
  ReplicaReadReply rr2;
  REQUIRE(decode(encode(rr), &rr2).ok());
  REQUIRE(rr2.found);
  REQUIRE(rr2.record.origin == "n1");
  ReplicaReadReply missing;
  REQUIRE(decode(encode(missing), &rr2).ok());
  REQUIRE_FALSE(rr2.found);
}

TEST_CASE("Truncated or padded replica messages are Corruption") {
  ReplicaWrite w;
  w.key = "k";
  w.record.origin = "n1";
  const std::string bytes = encode(w);
  ReplicaWrite out;
  for (size_t n = 0; n < bytes.size(); ++n) {
    REQUIRE(decode(std::string_view(bytes).substr(0, n), &out).is_corruption());
  }
  REQUIRE(decode(bytes + "x", &out).is_corruption());
  std::string flipped = bytes;
  flipped[flipped.size() - 3] ^= 0x01;  // inside the record checksum
  REQUIRE(decode(flipped, &out).is_corruption());
}
