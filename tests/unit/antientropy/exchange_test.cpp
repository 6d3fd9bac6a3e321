// The exchange between two real Stores (memory engines), the responder's checks, the wire codec
// and the repair ledger.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "antientropy/exchange.h"
#include "antientropy/messages.h"
#include "antientropy/repair_ledger.h"
#include "antientropy/store_data.h"
#include "core/clock.h"
#include "core/record.h"
#include "engines/memory/memory_engine.h"
#include "engines/store.h"
#include "ring/partitioner.h"

namespace chorus {
namespace {

constexpr uint32_t kPartitions = 8;

struct Replica {
  ManualClock clock;
  Store store{make_memory_engine(), &clock};
  StoreReplicaData data{&store, kPartitions};

  void put(const std::string& key, uint64_t ms, uint64_t epoch, bool tombstone = false,
           const std::string& origin = "n1") {
    Record r;
    r.value = tombstone ? "" : "value-of-" + key + "-" + std::to_string(ms);
    r.ts = Timestamp::from_parts(ms, 0);
    r.origin = origin;
    r.epoch = epoch;
    r.tombstone = tombstone;
    REQUIRE(store.apply(key, partition_of(key, kPartitions), r, false).ok());
  }
  std::map<std::string, uint64_t> digests(uint32_t partition) {
    std::map<std::string, uint64_t> out;
    REQUIRE(store
                .scan_index_range(partition, 0, kAllEpochs,
                                  [&](uint64_t, std::string_view key, Timestamp, uint64_t d) {
                                    out[std::string(key)] = d;
                                    return true;
                                  })
                .ok());
    return out;
  }
};

// Runs an exchange over a perfect in-process link; returns its stats.
// Answers a started exchange's requests from `remote` until it is done; returns the ops it sent.
std::vector<AaeOp> drive(Exchange& ex, Replica& remote) {
  std::vector<AaeOp> ops;
  while (!ex.done()) {
    REQUIRE(ops.size() < 10'000);
    AaeRequest request;
    REQUIRE(decode_aae_request(ex.request(), &request).ok());
    ops.push_back(request.op);
    AnswerStats stats;
    ex.on_reply(ex.request_id(), answer_aae_request(request, &remote.data, &stats));
  }
  INFO(ex.status().to_string());
  REQUIRE(ex.status().ok());
  return ops;
}

ExchangeStats run(Replica& local, Replica& remote, uint32_t partition, uint64_t epoch,
                  size_t leaves = 16) {
  ExchangeOptions options;
  options.partition = partition;
  options.epoch = epoch;
  options.leaves = leaves;
  Exchange ex(options, &local.data);
  REQUIRE(ex.start().ok());
  drive(ex, remote);
  return ex.stats();
}

std::vector<std::string> keys_in(uint32_t partition, int count, const std::string& prefix) {
  std::vector<std::string> out;
  for (int i = 0; out.size() < static_cast<size_t>(count); ++i) {
    std::string key = prefix + std::to_string(i);
    if (partition_of(key, kPartitions) == partition) out.push_back(key);
  }
  return out;
}

TEST_CASE("aae exchange: two stores converge both ways and equal keys stay put") {
  Replica a;
  Replica b;
  const uint32_t p = 3;
  const auto shared = keys_in(p, 300, "shared-");
  for (const auto& k : shared) {
    a.put(k, 1000, 4);
    b.put(k, 1000, 4);
  }
  const auto only_a = keys_in(p, 10, "a-");
  for (const auto& k : only_a) a.put(k, 2000, 4);
  const auto only_b = keys_in(p, 7, "b-");
  for (const auto& k : only_b) b.put(k, 2000, 4);
  b.put(shared[0], 3000, 4);                      // newer on b
  a.put(shared[1], 3000, 4, /*tombstone=*/true);  // deleted on a
  REQUIRE(a.digests(p) != b.digests(p));

  const ExchangeStats stats = run(a, b, p, 4);
  CHECK(a.digests(p) == b.digests(p));
  CHECK(stats.keys_fetched == 8);  // only_b + shared[0]
  CHECK(stats.keys_pushed == 11);  // only_a + the tombstone
  CHECK(stats.records_applied == 8);
  CHECK(stats.remote_applied == 11);
  CHECK(stats.buckets_differing > 0);
  CHECK(stats.buckets_differing < 16);

  Record deleted;
  REQUIRE(b.store.get(shared[1], &deleted).ok());
  CHECK(deleted.tombstone);

  // Once equal, a second exchange compares one root and moves nothing.
  const ExchangeStats again = run(a, b, p, 4);
  CHECK(again.nodes_compared == 1);
  CHECK(again.keys_fetched + again.keys_pushed == 0);
}

TEST_CASE("aae exchange: an empty replica fetches everything from every non-empty bucket") {
  Replica empty;
  Replica full;
  const uint32_t p = 2;
  const auto keys = keys_in(p, 80, "k");
  auto shape = MerkleTree::create(64);
  REQUIRE(shape.ok());
  std::set<size_t> leaves;
  for (const auto& k : keys) {
    full.put(k, 1000, 3);
    leaves.insert(shape.value().leaf_of(k));
  }
  // Keys of one partition share the low bits of their hash (partition_of): the leaves must not
  // depend on them, or a partition would be one bucket.
  CHECK(leaves.size() >= 32);
  const ExchangeStats stats = run(empty, full, p, 3, 64);
  CHECK(stats.buckets_differing == leaves.size());
  CHECK(stats.keys_fetched == keys.size());
  CHECK(empty.digests(p) == full.digests(p));
}

TEST_CASE("aae exchange: a side known to be empty skips the descent") {
  Replica empty;
  Replica full;
  const uint32_t p = 4;
  const auto keys = keys_in(p, 50, "k");
  for (const auto& k : keys) full.put(k, 1000, 3);
  ExchangeOptions options;
  options.partition = p;
  options.epoch = 3;
  options.leaves = 64;
  options.remote_entries = keys.size();
  Exchange fetching(options, &empty.data);
  REQUIRE(fetching.start().ok());
  CHECK(fetching.phase() == Exchange::Phase::kBuckets);
  options.remote_entries = 0;
  Exchange pushing(options, &full.data);
  REQUIRE(pushing.start().ok());
  CHECK(pushing.phase() == Exchange::Phase::kBuckets);
  const std::vector<AaeOp> ops = drive(pushing, empty);
  CHECK(std::find(ops.begin(), ops.end(), AaeOp::kHashes) == ops.end());
  CHECK(pushing.stats().nodes_compared == 0);
  CHECK(pushing.stats().keys_pushed == keys.size());
  CHECK(empty.digests(p) == full.digests(p));
}

TEST_CASE("aae exchange: an epoch tree ignores other epochs and the sweep covers them all") {
  Replica a;
  Replica b;
  const uint32_t p = 5;
  const auto keys = keys_in(p, 20, "k");
  for (size_t i = 0; i < keys.size(); ++i) a.put(keys[i], 1000 + i, 1 + i % 3);
  const ExchangeStats epoch2 = run(a, b, p, 2);
  CHECK(epoch2.keys_pushed == 7);  // i % 3 == 1
  CHECK(a.digests(p) != b.digests(p));
  const ExchangeStats all = run(a, b, p, kAllEpochs, 64);
  CHECK(all.keys_pushed == 13);
  CHECK(a.digests(p) == b.digests(p));
}

TEST_CASE("aae responder: refuses malformed requests and keys of another partition") {
  Replica r;
  r.put("x", 100, 1);
  AnswerStats stats;
  AaeRequest bad_leaves;
  bad_leaves.op = AaeOp::kHashes;
  bad_leaves.leaves = 3;
  CHECK(answer_aae_request(bad_leaves, &r.data, &stats).status().code() ==
        Status::Code::kInvalidArgument);
  AaeRequest bad_index;
  bad_index.op = AaeOp::kHashes;
  bad_index.leaves = 16;
  bad_index.level = 2;
  bad_index.nodes = {4};
  CHECK(answer_aae_request(bad_index, &r.data, &stats).status().code() ==
        Status::Code::kInvalidArgument);
  AaeRequest deep;
  deep.op = AaeOp::kHashes;
  deep.leaves = 16;
  deep.level = 5;
  deep.nodes = {0};
  CHECK(answer_aae_request(deep, &r.data, &stats).status().code() ==
        Status::Code::kInvalidArgument);

  Record record;
  record.value = "v";
  record.ts = Timestamp::from_parts(500, 0);
  record.origin = "n9";
  record.epoch = 1;
  AaeRequest push;
  push.op = AaeOp::kPush;
  push.partition = (partition_of("y", kPartitions) + 1) % kPartitions;
  push.items = {{"y", encode_record(record)}};
  CHECK(answer_aae_request(push, &r.data, &stats).status().code() ==
        Status::Code::kInvalidArgument);
  push.partition = partition_of("y", kPartitions);
  push.items[0].record[3] ^= 1;  // checksum no longer matches
  CHECK(answer_aae_request(push, &r.data, &stats).status().code() == Status::Code::kCorruption);
  Record none;
  CHECK(r.store.get("y", &none).is_not_found());
}

TEST_CASE("aae exchange: a reply that does not answer the request ends it with Corruption") {
  Replica local;
  Replica remote;
  const uint32_t p = 1;
  const auto keys = keys_in(p, 30, "k");
  for (const auto& k : keys) remote.put(k, 1000, 2);
  ExchangeOptions options;
  options.partition = p;
  options.epoch = 2;
  options.leaves = 16;
  options.remote_entries = keys.size();  // local is empty: straight to the key lists
  {
    Exchange ex(options, &local.data);
    REQUIRE(ex.start().ok());
    AaeRequest request;
    REQUIRE(decode_aae_request(ex.request(), &request).ok());
    REQUIRE(request.op == AaeOp::kBuckets);
    // Every key of the partition, claimed to be in the first requested leaf.
    AaeReply lie;
    lie.buckets.emplace_back();
    for (const auto& k : keys) lie.buckets[0].push_back({k, Timestamp{5}, 1});
    CHECK(ex.on_reply(ex.request_id(), encode_aae_reply(AaeOp::kBuckets, lie)));
    CHECK(ex.done());
    CHECK(ex.status().code() == Status::Code::kCorruption);
  }
  {
    Exchange ex(options, &local.data);
    REQUIRE(ex.start().ok());
    AnswerStats stats;
    AaeRequest request;
    REQUIRE(decode_aae_request(ex.request(), &request).ok());
    ex.on_reply(ex.request_id(), answer_aae_request(request, &remote.data, &stats));
    REQUIRE(decode_aae_request(ex.request(), &request).ok());
    REQUIRE(request.op == AaeOp::kFetch);
    // A record of a key that was not asked for.
    Record r;
    r.value = "x";
    r.ts = Timestamp::from_parts(9000, 0);
    r.origin = "n9";
    r.epoch = 2;
    AaeReply lie;
    lie.answered = 1;
    lie.items = {{keys_in(p, 31, "other-").back(), encode_record(r)}};
    CHECK_FALSE(ex.on_reply(ex.request_id() + 1, encode_aae_reply(AaeOp::kFetch, lie)));
    CHECK(ex.on_reply(ex.request_id(), encode_aae_reply(AaeOp::kFetch, lie)));
    CHECK(ex.status().code() == Status::Code::kCorruption);
    Record none;
    CHECK(local.store.get(lie.items[0].key, &none).is_not_found());
  }
}

TEST_CASE("aae messages: every op round-trips and damage is Corruption") {
  AaeRequest hashes;
  hashes.op = AaeOp::kHashes;
  hashes.partition = 9;
  hashes.epoch = kAllEpochs;
  hashes.leaves = 64;
  hashes.level = 3;
  hashes.nodes = {1, 5, 7};
  AaeRequest decoded;
  REQUIRE(decode_aae_request(encode_aae_request(hashes), &decoded).ok());
  CHECK(decoded.op == AaeOp::kHashes);
  CHECK(decoded.partition == 9);
  CHECK(decoded.epoch == kAllEpochs);
  CHECK(decoded.level == 3);
  CHECK(decoded.nodes == hashes.nodes);

  AaeRequest summary;
  summary.op = AaeOp::kSummary;
  summary.epoch = 10;
  summary.epoch_last = 10 + kSummaryEpochsMax;  // one epoch too many
  CHECK(decode_aae_request(encode_aae_request(summary), &decoded).code() ==
        Status::Code::kCorruption);

  AaeReply reply;
  reply.answered = 2;
  reply.items = {{"k", "record-bytes"}};
  AaeReply back;
  REQUIRE(decode_aae_reply(AaeOp::kFetch, encode_aae_reply(AaeOp::kFetch, reply), &back).ok());
  CHECK(back.answered == 2);
  REQUIRE(back.items.size() == 1);
  CHECK(back.items[0].record == "record-bytes");

  const std::string good = encode_aae_request(hashes);
  for (size_t cut = 0; cut < good.size(); ++cut) {
    CHECK(decode_aae_request(good.substr(0, cut), &decoded).code() == Status::Code::kCorruption);
  }
  CHECK(decode_aae_request(good + "x", &decoded).code() == Status::Code::kCorruption);
  std::string bad_op = good;
  bad_op[1] = 99;
  CHECK(decode_aae_request(bad_op, &decoded).code() == Status::Code::kCorruption);
}

TEST_CASE("repair ledger: verification, dirty marks, ranges and persistence") {
  RepairLedger ledger(4);
  CHECK_FALSE(ledger.next_range(1, 100).has_value());  // nothing closed yet
  ledger.close_through(5);
  auto range = ledger.next_range(1, 100);
  REQUIRE(range);
  CHECK(range->first == 0);
  CHECK(range->last == 5);
  CHECK(ledger.unverified_count(1) == 6);

  for (uint64_t e : {0, 1, 2, 4}) ledger.mark_verified(1, e);
  CHECK(ledger.verified_through(1) == 2u);
  CHECK(ledger.unverified_count(1) == 2);  // 3 and 5
  CHECK(ledger.next_range(1, 100)->first == 3);
  CHECK(ledger.next_range(1, 2)->last == 4);

  CHECK_FALSE(ledger.mark_dirty(1, 3));  // never verified: already pending
  CHECK_FALSE(ledger.mark_dirty(1, 9));  // not closed
  CHECK(ledger.mark_dirty(1, 1));
  CHECK_FALSE(ledger.mark_dirty(1, 1));  // once
  CHECK(ledger.dirty(1, 1));
  CHECK(ledger.pending(1, 1));
  CHECK(ledger.verified_through(1) == 0u);
  CHECK(ledger.next_range(1, 100)->first == 1);  // dirty first

  RepairLedger copy(4);
  REQUIRE(copy.decode(1, ledger.encode(1)).ok());
  copy.close_through(5);
  CHECK(copy.dirty(1, 1));
  CHECK(copy.verified(1, 4));
  CHECK_FALSE(copy.verified(1, 3));
  CHECK(copy.decode(1, "\x01garbage").code() == Status::Code::kCorruption);
  CHECK(copy.dirty(1, 1));  // a failed decode changes nothing

  ledger.mark_verified(1, 1);
  ledger.mark_verified(1, 3);
  ledger.mark_verified(1, 5);
  CHECK(ledger.verified_through(1) == 5u);
  CHECK_FALSE(ledger.next_range(1, 100).has_value());
  ledger.set_collected_below(1, 4);
  ledger.set_collected_below(1, 2);  // never backwards by itself
  CHECK(ledger.collected_below(1) == 4);
  RepairLedger reloaded(4);
  REQUIRE(reloaded.decode(1, ledger.encode(1)).ok());
  CHECK(reloaded.collected_below(1) == 4);
  CHECK(ledger.mark_dirty(1, 2));  // a late write into a collected epoch
  CHECK(ledger.collected_below(1) == 2);
  ledger.mark_verified(1, 2);
  ledger.reset(1);
  CHECK(ledger.collected_below(1) == 2);  // what was collected stays collected
  CHECK(ledger.unverified_count(1) == 6);
  CHECK(ledger.unverified_count(2) == 6);  // other partitions never verified

  // The replica set: the first one recorded resets nothing, a different one resets.
  ledger.mark_verified(3, 0);
  CHECK_FALSE(ledger.set_owners(3, 11));
  CHECK(ledger.verified(3, 0));
  CHECK_FALSE(ledger.set_owners(3, 11));
  CHECK(ledger.set_owners(3, 12));
  CHECK_FALSE(ledger.verified(3, 0));
  RepairLedger after_restart(4);
  REQUIRE(after_restart.decode(3, ledger.encode(3)).ok());
  CHECK(after_restart.owners(3) == 12);
}

}  // namespace
}  // namespace chorus
