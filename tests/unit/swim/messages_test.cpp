// The SWIM wire codec: round trips, bounds, and malformed input that must be dropped, never crash.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "core/coding.h"
#include "membership/swim/messages.h"

using namespace chorus;
using namespace chorus::swim;

namespace {

Member member(const std::string& id) {
  return Member{id, id + ".example:7000", id + ".example:8080"};
}

Message sample(MessageType type) {
  Message m;
  m.type = type;
  if (type == MessageType::kPing || type == MessageType::kPingReq || type == MessageType::kAck) {
    m.seq = 123456789;  // join and sync carry none
  }
  m.sender = member("sender");
  m.sender_incarnation = 42;
  if (type == MessageType::kPing || type == MessageType::kPingReq) m.target_id = "target";
  if (type == MessageType::kPingReq) m.target_address = "10.0.0.9:7000";
  m.updates = {Update{State::kAlive, member("a"), 1}, Update{State::kSuspect, member("b"), 7},
               Update{State::kDead, Member{"c", "10.0.0.3:7000", ""}, UINT64_MAX}};
  return m;
}

void require_same(const Message& a, const Message& b) {
  REQUIRE(a.type == b.type);
  REQUIRE(a.seq == b.seq);
  REQUIRE(a.sender.id == b.sender.id);
  REQUIRE(same_addresses(a.sender, b.sender));
  REQUIRE(a.sender_incarnation == b.sender_incarnation);
  REQUIRE(a.target_id == b.target_id);
  REQUIRE(a.target_address == b.target_address);
  REQUIRE(a.updates.size() == b.updates.size());
  for (size_t i = 0; i < a.updates.size(); ++i) {
    REQUIRE(a.updates[i].state == b.updates[i].state);
    REQUIRE(a.updates[i].member.id == b.updates[i].member.id);
    REQUIRE(same_addresses(a.updates[i].member, b.updates[i].member));
    REQUIRE(a.updates[i].incarnation == b.updates[i].incarnation);
  }
}

bool malformed(const std::string& bytes) {
  Result<Message> r = decode(bytes);
  return !r.ok() && r.status().is_corruption();
}

}  // namespace

TEST_CASE("swim messages: every message type round-trips with its updates") {
  for (MessageType type : {MessageType::kPing, MessageType::kPingReq, MessageType::kAck,
                           MessageType::kJoin, MessageType::kSync}) {
    const Message m = sample(type);
    const std::string bytes = encode(m);
    CHECK(bytes.size() == encoded_header_size(m) - kVarint14Bytes + 1 + encoded_size(m.updates[0]) +
                              encoded_size(m.updates[1]) + encoded_size(m.updates[2]));
    Result<Message> back = decode(bytes);
    REQUIRE(back.ok());
    require_same(m, back.value());
  }
}

TEST_CASE("swim messages: a ping with an empty target (a seed ping) round-trips") {
  Message m = sample(MessageType::kPing);
  m.target_id.clear();
  m.updates.clear();
  Result<Message> back = decode(encode(m));
  REQUIRE(back.ok());
  require_same(m, back.value());
}

TEST_CASE("swim messages: the largest header plus two of the largest updates fits a datagram") {
  const Member big{std::string(kMaxIdBytes, 'i'), std::string(kMaxAddressBytes, 'p'),
                   std::string(kMaxAddressBytes, 'h')};
  Message m;
  m.type = MessageType::kPingReq;
  m.seq = UINT64_MAX;
  m.sender = big;
  m.sender_incarnation = UINT64_MAX;
  m.target_id = big.id;
  m.target_address = big.peer_address;
  m.updates = {Update{State::kDead, big, UINT64_MAX}, Update{State::kSuspect, big, UINT64_MAX}};
  CHECK(encoded_header_size(m) <= kMaxHeaderBytes);
  CHECK(encoded_size(m.updates[0]) <= kMaxUpdateBytes);
  const std::string bytes = encode(m);
  CHECK(bytes.size() <= kMaxDatagramBytes);
  REQUIRE(decode(bytes).ok());
}

TEST_CASE("swim messages: a wrong version or an unknown type or empty input is malformed") {
  std::string bytes = encode(sample(MessageType::kAck));
  CHECK(malformed(""));
  CHECK(malformed(std::string(1, static_cast<char>(kWireVersion))));
  std::string v = bytes;
  v[0] = static_cast<char>(kWireVersion + 1);
  CHECK(malformed(v));
  for (int type : {0, 6, 255}) {
    std::string t = bytes;
    t[1] = static_cast<char>(type);
    CHECK(malformed(t));
  }
}

TEST_CASE("swim messages: every truncation and any trailing byte is malformed") {
  for (MessageType type : {MessageType::kPing, MessageType::kPingReq, MessageType::kAck,
                           MessageType::kJoin, MessageType::kSync}) {
    const std::string bytes = encode(sample(type));
    for (size_t n = 0; n < bytes.size(); ++n) CHECK(malformed(bytes.substr(0, n)));
    CHECK(malformed(bytes + '\0'));
  }
}

TEST_CASE("swim messages: out-of-bounds fields are malformed") {
  auto with_update = [](Update u) {
    Message m = sample(MessageType::kAck);
    m.updates = {u};
    return m;
  };
  SECTION("bad state byte") {
    std::string bytes = encode(with_update(Update{State::kDead, member("x"), 0}));
    const size_t state_at = encoded_header_size(sample(MessageType::kAck)) - kVarint14Bytes + 1;
    REQUIRE(bytes[state_at] == static_cast<char>(State::kDead));
    bytes[state_at] = 3;
    CHECK(malformed(bytes));
  }
  SECTION("a datagram over kMaxDatagramBytes") {
    CHECK(malformed(std::string(kMaxDatagramBytes + 1, '\x01')));
  }
  SECTION("an id or address over its bound, or an empty id or peer address") {
    // Built by hand: encode() refuses such members.
    auto raw = [](const std::string& id, const std::string& peer, const std::string& http) {
      std::string out = {static_cast<char>(kWireVersion), static_cast<char>(MessageType::kJoin)};
      put_length_prefixed(&out, id);
      put_length_prefixed(&out, peer);
      put_length_prefixed(&out, http);
      put_varint64(&out, 0);  // incarnation
      put_varint64(&out, 0);  // no updates
      return out;
    };
    REQUIRE(decode(raw("a", "p", "")).ok());
    REQUIRE(decode(raw(std::string(kMaxIdBytes, 'a'), std::string(kMaxAddressBytes, 'p'),
                       std::string(kMaxAddressBytes, 'h')))
                .ok());
    CHECK(malformed(raw("", "p", "")));
    CHECK(malformed(raw("a", "", "")));
    CHECK(malformed(raw(std::string(kMaxIdBytes + 1, 'a'), "p", "")));
    CHECK(malformed(raw("a", std::string(kMaxAddressBytes + 1, 'p'), "")));
    CHECK(malformed(raw("a", "p", std::string(kMaxAddressBytes + 1, 'h'))));
  }
  SECTION("an update count that lies or exceeds the bound") {
    Message m = sample(MessageType::kJoin);
    m.updates.clear();
    std::string bytes = encode(m);
    bytes.back() = 5;  // five updates announced, none present
    CHECK(malformed(bytes));
    bytes.pop_back();
    bytes += std::string("\xff\x7f", 2);  // 16383 updates
    CHECK(malformed(bytes));
  }
  SECTION("a varint longer than ten bytes") {
    std::string bytes = {static_cast<char>(kWireVersion), static_cast<char>(MessageType::kAck)};
    bytes += std::string(11, '\xff');
    CHECK(malformed(bytes));
  }
}

TEST_CASE("swim messages: random bytes and mutated datagrams never crash the decoder") {
  std::mt19937_64 rng(2024);
  uint64_t accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 64);
      for (char& c : bytes) c = static_cast<char>(rng());
      if (bytes.size() >= 2 && i % 4 == 0) bytes[0] = static_cast<char>(kWireVersion);
    } else {
      bytes = encode(sample(static_cast<MessageType>(1 + rng() % 5)));
      for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
      }
    }
    Result<Message> r = decode(bytes);
    if (!r.ok()) continue;
    // Whatever decodes must be within bounds and re-encode to the same meaning.
    ++accepted;
    Result<Message> again = decode(encode(r.value()));
    REQUIRE(again.ok());
    require_same(r.value(), again.value());
  }
  CHECK(accepted > 0);  // some mutations (e.g. of a digit in an address) stay valid
}
