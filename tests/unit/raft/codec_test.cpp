// Wire codec of the Raft values: round trips for every message type, and refusal (never a crash or
// an over-read) of truncated, garbage and oversized input.
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/coding.h"
#include "membership/raft/codec.h"

using namespace chorus;
using namespace chorus::raft;

namespace {

const std::vector<MessageType> kAllTypes = {
    MessageType::kPreVote,  MessageType::kPreVoteResp, MessageType::kVote,
    MessageType::kVoteResp, MessageType::kAppend,      MessageType::kAppendResp,
    MessageType::kSnapshot,
};

Snapshot sample_snapshot() {
  Snapshot s;
  s.metadata.index = 1'000'000'007;
  s.metadata.term = 42;
  s.metadata.conf.voters = {1, 2, 300};
  s.metadata.conf.learners = {4, UINT64_MAX};
  s.data = std::string("members\0config\xff", 15);
  return s;
}

// Every field set to something distinctive, whatever the type uses, so a dropped field shows.
Message sample_message(MessageType type) {
  Message m;
  m.type = type;
  m.from = 3;
  m.to = UINT64_MAX;
  m.term = 1ull << 40;
  m.log_term = 17;
  m.index = 123'456'789;
  m.commit = 99;
  m.reject = true;
  m.reject_hint = 77;
  m.entries = {Entry{17, 123'456'790, "", EntryType::kNormal},
               Entry{17, 123'456'791, std::string("a\0b", 3), EntryType::kNormal},
               Entry{18, 123'456'792,
                     encode_conf_change(ConfChange{ConfChangeType::kAddLearner, 9, "join n9"}),
                     EntryType::kConfChange}};
  m.snapshot = sample_snapshot();
  return m;
}

// The typical shape of each type: what Raft actually sends.
Message typical_message(MessageType type) {
  Message m;
  m.type = type;
  m.from = 1;
  m.to = 2;
  m.term = 5;
  if (type == MessageType::kAppend) {
    m.index = 10;
    m.log_term = 4;
    m.commit = 9;
    m.entries = {Entry{5, 11, "cmd"}};
  } else if (type == MessageType::kSnapshot) {
    m.snapshot = sample_snapshot();
  } else if (type == MessageType::kAppendResp || type == MessageType::kVoteResp ||
             type == MessageType::kPreVoteResp) {
    m.reject = type != MessageType::kAppendResp;
    m.index = 10;
  }
  return m;
}

void require_same(const Message& a, const Message& b) {
  REQUIRE(a.type == b.type);
  REQUIRE(a.from == b.from);
  REQUIRE(a.to == b.to);
  REQUIRE(a.term == b.term);
  REQUIRE(a.log_term == b.log_term);
  REQUIRE(a.index == b.index);
  REQUIRE(a.commit == b.commit);
  REQUIRE(a.reject == b.reject);
  REQUIRE(a.reject_hint == b.reject_hint);
  REQUIRE(a.entries == b.entries);
  REQUIRE(a.snapshot == b.snapshot);
}

std::string encoded(const Message& m) {
  auto bytes = encode_message(m);
  REQUIRE(bytes.ok());
  return *bytes;
}

// A message header up to and including the entry count, for hand-built malformed input.
std::string raw_header(uint8_t type_code, uint64_t entry_count) {
  std::string out;
  out.push_back(static_cast<char>(kCodecVersion));
  out.push_back(static_cast<char>(type_code));
  for (int i = 0; i < 6; ++i) put_varint64(&out, 1);  // from, to, term, log_term, index, commit
  out.push_back(0);                                   // reject
  put_varint64(&out, 0);                              // reject_hint
  put_varint64(&out, entry_count);
  return out;
}

}  // namespace

TEST_CASE("codec round-trips every message type with every field set") {
  for (MessageType type : kAllTypes) {
    INFO(message_type_name(type));
    const Message m = sample_message(type);
    auto decoded = decode_message(encoded(m));
    REQUIRE(decoded.ok());
    require_same(*decoded, m);
  }
}

TEST_CASE("codec round-trips the typical message of every type") {
  for (MessageType type : kAllTypes) {
    INFO(message_type_name(type));
    const Message m = typical_message(type);
    auto decoded = decode_message(encoded(m));
    REQUIRE(decoded.ok());
    require_same(*decoded, m);
  }
}

TEST_CASE("codec round-trips a default message and a maximal AppendEntries") {
  auto empty = decode_message(encoded(Message{}));
  REQUIRE(empty.ok());
  require_same(*empty, Message{});

  Message big = typical_message(MessageType::kAppend);
  big.entries.clear();
  for (uint64_t i = 0; i < kMessageEntriesMax; ++i) {
    big.entries.push_back(Entry{UINT64_MAX, UINT64_MAX - kMessageEntriesMax + i,
                                std::string(kEntryDataBytesMax, 'x'), EntryType::kConfChange});
  }
  const std::string bytes = encoded(big);
  REQUIRE(bytes.size() <= kMessageBytesMax);
  auto decoded = decode_message(bytes);
  REQUIRE(decoded.ok());
  require_same(*decoded, big);
}

TEST_CASE("codec round-trips entries hard states and snapshots on their own") {
  for (const Entry& e : sample_message(MessageType::kAppend).entries) {
    auto bytes = encode_entry(e);
    REQUIRE(bytes.ok());
    auto decoded = decode_entry(*bytes);
    REQUIRE(decoded.ok());
    REQUIRE(*decoded == e);
  }
  const HardState hs{UINT64_MAX, 3, 1ull << 50};
  auto hs_decoded = decode_hard_state(encode_hard_state(hs));
  REQUIRE(hs_decoded.ok());
  REQUIRE(*hs_decoded == hs);

  auto snap_bytes = encode_snapshot(sample_snapshot());
  REQUIRE(snap_bytes.ok());
  auto snap = decode_snapshot(*snap_bytes);
  REQUIRE(snap.ok());
  REQUIRE(*snap == sample_snapshot());
}

TEST_CASE("codec rejects every truncation of a valid encoding as Corruption") {
  for (MessageType type : kAllTypes) {
    const std::string bytes = encoded(sample_message(type));
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto decoded = decode_message(std::string_view(bytes).substr(0, n));
      INFO(message_type_name(type) << " cut at " << n << " of " << bytes.size());
      REQUIRE_FALSE(decoded.ok());
      REQUIRE(decoded.status().code() == Status::Code::kCorruption);
    }
  }
  const std::string entry = *encode_entry(Entry{1, 2, "data"});
  for (size_t n = 0; n < entry.size(); ++n) REQUIRE_FALSE(decode_entry(entry.substr(0, n)).ok());
  const std::string snap = *encode_snapshot(sample_snapshot());
  for (size_t n = 0; n < snap.size(); ++n) REQUIRE_FALSE(decode_snapshot(snap.substr(0, n)).ok());
  const std::string hs = encode_hard_state(HardState{1, 2, 3});
  for (size_t n = 0; n < hs.size(); ++n) REQUIRE_FALSE(decode_hard_state(hs.substr(0, n)).ok());
}

TEST_CASE("codec rejects trailing bytes and unknown versions") {
  std::string bytes = encoded(sample_message(MessageType::kAppend));
  REQUIRE(decode_message(bytes + '\0').status().code() == Status::Code::kCorruption);
  bytes[0] = static_cast<char>(kCodecVersion + 1);
  REQUIRE(decode_message(bytes).status().code() == Status::Code::kCorruption);

  std::string entry = *encode_entry(Entry{1, 2, "x"});
  REQUIRE(decode_entry(entry + 'x').status().code() == Status::Code::kCorruption);
  entry[0] = 0;
  REQUIRE(decode_entry(entry).status().code() == Status::Code::kCorruption);
}

TEST_CASE("codec rejects unknown message and entry types") {
  std::string bytes = encoded(typical_message(MessageType::kAppend));
  for (int code : {0, 8, 100, 255}) {
    bytes[1] = static_cast<char>(code);
    INFO("message type code " << code);
    REQUIRE(decode_message(bytes).status().code() == Status::Code::kCorruption);
  }
  std::string entry = *encode_entry(Entry{1, 2, "x"});
  for (int code : {2, 3, 255}) {
    entry[1] = static_cast<char>(code);
    INFO("entry type code " << code);
    REQUIRE(decode_entry(entry).status().code() == Status::Code::kCorruption);
  }
}

TEST_CASE("codec rejects flags other than 0 and 1") {
  std::string bytes = raw_header(5, 0);
  bytes.push_back(0);  // no snapshot
  REQUIRE(decode_message(bytes).ok());
  bytes.back() = 2;
  REQUIRE(decode_message(bytes).status().code() == Status::Code::kCorruption);

  std::string reject_two = raw_header(5, 0) + '\0';
  reject_two[2 + 6] = 2;  // the reject byte follows six one-byte varints
  REQUIRE(decode_message(reject_two).status().code() == Status::Code::kCorruption);
}

TEST_CASE("codec refuses to encode over-limit messages and decode them as InvalidArgument") {
  Message too_many = typical_message(MessageType::kAppend);
  too_many.entries = {};
  for (uint64_t i = 1; i <= kMessageEntriesMax + 1; ++i)
    too_many.entries.push_back(Entry{1, i, ""});
  REQUIRE(encode_message(too_many).status().code() == Status::Code::kInvalidArgument);
  std::string raw = raw_header(5, kMessageEntriesMax + 1);
  REQUIRE(decode_message(raw).status().code() == Status::Code::kInvalidArgument);
  REQUIRE(decode_message(raw_header(5, UINT64_MAX)).status().code() ==
          Status::Code::kInvalidArgument);

  const Entry fat{1, 1, std::string(kEntryDataBytesMax + 1, 'x')};
  REQUIRE(encode_entry(fat).status().code() == Status::Code::kInvalidArgument);
  std::string fat_raw(1, static_cast<char>(kCodecVersion));
  fat_raw += std::string("\0\1\1", 3);  // type normal, term 1, index 1
  put_varint64(&fat_raw, kEntryDataBytesMax + 1);
  REQUIRE(decode_entry(fat_raw).status().code() == Status::Code::kInvalidArgument);
  // A length claiming more than the input holds is truncation, not an over-limit claim.
  std::string short_raw(1, static_cast<char>(kCodecVersion));
  short_raw += std::string("\0\1\1", 3);
  put_varint64(&short_raw, 10);
  REQUIRE(decode_entry(short_raw + "abc").status().code() == Status::Code::kCorruption);

  Snapshot huge = sample_snapshot();
  huge.data.assign(kSnapshotDataBytesMax + 1, 's');
  REQUIRE(encode_snapshot(huge).status().code() == Status::Code::kInvalidArgument);
  REQUIRE(decode_message(std::string(kMessageBytesMax + 1, '\0')).status().code() ==
          Status::Code::kInvalidArgument);
}

TEST_CASE("codec rejects entries out of sequence and malformed conf states") {
  Message gap = typical_message(MessageType::kAppend);
  gap.entries = {Entry{1, 5, ""}, Entry{1, 7, ""}};
  REQUIRE(encode_message(gap).status().code() == Status::Code::kInvalidArgument);
  std::string raw = raw_header(5, 2);
  raw += encode_entry(Entry{1, 5, ""}).value().substr(1);  // entry bodies, without version bytes
  raw += encode_entry(Entry{1, 7, ""}).value().substr(1);
  raw.push_back(0);
  REQUIRE(decode_message(raw).status().code() == Status::Code::kCorruption);

  for (ConfState conf : {ConfState{{2, 1}, {}}, ConfState{{1, 1}, {}}, ConfState{{0, 1}, {}},
                         ConfState{{1, 2}, {2}}}) {
    Snapshot s = sample_snapshot();
    s.metadata.conf = conf;
    REQUIRE(encode_snapshot(s).status().code() == Status::Code::kInvalidArgument);
  }
}

TEST_CASE("codec survives random garbage and random byte flips") {
  std::mt19937_64 rng(20240601);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 20'000; ++round) {
    std::string garbage(static_cast<size_t>(rng() % 64), '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    if (rng() % 2 == 0 && !garbage.empty()) garbage[0] = static_cast<char>(kCodecVersion);
    (void)decode_message(garbage).ok();
    (void)decode_entry(garbage).ok();
    (void)decode_snapshot(garbage).ok();
    (void)decode_hard_state(garbage).ok();
  }
  const std::string valid = encoded(sample_message(MessageType::kSnapshot));
  for (int round = 0; round < 20'000; ++round) {
    std::string bytes = valid;
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
      bytes[rng() % bytes.size()] = static_cast<char>(byte(rng));
    }
    auto decoded = decode_message(bytes);
    // Whatever decodes must re-encode: the decoder only hands out values the encoder accepts.
    if (decoded.ok()) REQUIRE(encode_message(*decoded).ok());
  }
}
