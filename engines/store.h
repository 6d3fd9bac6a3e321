// Store: the record store of one node, built on one Engine.
//
// It keeps two keyspaces in the engine, always updated together in one atomic write batch:
//
//   'r' + key                                          -> encode_record(record)
//       the latest version of each key (tombstones included), checksummed (core/record.h).
//   'i' + u32 partition (BE) + u64 epoch (BE) + key    -> fixed64 ts.packed + fixed64 record_digest
//       exactly one entry per stored key, under the epoch stamped on its stored version. Big-endian
//       numbers make one (partition, epoch) a contiguous, key-ordered range, so anti-entropy hashes
//       one partition-epoch without reading anything else (DESIGN.md §4, §7).
//
//   'a' + u32 partition (BE)                           -> anti-entropy bookkeeping of the partition
//       written by antientropy/ through engine(); the Store never reads it.
//
// apply() is last-writer-wins: a record is stored only if it is newer (newer_than: timestamp, then
// origin id) than the stored version, so replicas converge whatever order versions arrive in.
//
// Thread-safety: every method may be called concurrently from any thread. apply() is atomic per key
// (read-compare-write under a striped lock); reads and scans take no Store lock and see the
// engine's snapshot semantics. Callbacks passed to scans run on the caller's thread with no lock
// held, so they may call back into the Store.
//
// Ownership: the Store owns its Engine; `clock` is borrowed and must outlive the Store.
//
// Errors: InvalidArgument for malformed input, Corruption when stored bytes fail their checksum or
// layout (never reported as NotFound), IOError and others from the engine. A failed apply() writes
// nothing.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/hlc.h"
#include "core/record.h"
#include "core/status.h"
#include "engines/engine.h"

namespace chorus {

// Keyspace tags: the first byte of every engine key the Store writes.
constexpr char kRecordKeyspace = 'r';
constexpr char kIndexKeyspace = 'i';
constexpr char kRepairKeyspace = 'a';
// Index key prefix: tag + u32 partition + u64 epoch.
constexpr size_t kIndexPrefixBytes = 1 + 4 + 8;
// Index value: fixed64 timestamp + fixed64 digest.
constexpr size_t kIndexValueBytes = 8 + 8;

// Engine keys of the two keyspaces (exposed for tests and tools that inspect the engine directly).
std::string store_record_key(std::string_view key);
std::string store_index_key(uint32_t partition, uint64_t epoch, std::string_view key);

struct ApplyResult {
  bool applied = false;  // the record was newer and is now stored
  Record current;  // when !applied: the stored version that won (full record); when applied: the
                   // record just stored
};

class Store {
 public:
  // Number of mutexes apply() stripes keys over. Two keys share a stripe with probability 1/256;
  // sharing costs only waiting for one short engine get + write, never correctness.
  static constexpr size_t kApplyStripes = 256;

  // Told, after the fact, of every apply() that stored a record: the key's partition and the epoch
  // the new version is stamped with. Runs on the applying thread with no Store lock held; must be
  // cheap and thread-safe.
  using ApplyObserver = std::function<void(uint32_t partition, uint64_t epoch)>;

  Store(std::unique_ptr<Engine> engine, const Clock* clock);
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Stores `record` for `key` iff it is newer than the stored version, in ONE atomic batch that
  // also replaces the key's index entry (deletes the old (partition, old epoch, key) entry, puts
  // the new one). `partition` must be the key's partition, the same on every call for that key (it
  // is a function of the key, DESIGN.md §4). Equal version => not applied (idempotent). Tombstones
  // are stored like any record. sync=true fsyncs the engine's WAL before returning. Errors:
  // InvalidArgument (empty key, key > kKeyBytesMax, origin empty or > kNodeIdBytesMax), TooLarge
  // (value > kValueBytesMaxLimit, which no record encoding may exceed), Corruption if the stored
  // record fails its checksum (then nothing is written), IOError.
  Result<ApplyResult> apply(std::string_view key, uint32_t partition, const Record& record,
                            bool sync);

  // Deletes `key` entirely (record and index entry) iff its stored version is a tombstone whose
  // record_digest() is `digest`; true when it did. Atomic with apply() for the key: a newer
  // version stored meanwhile is never removed. Anti-entropy calls it for tombstones past their
  // grace period in epochs verified on every replica. Errors as get().
  Result<bool> collect_tombstone(std::string_view key, uint32_t partition, uint64_t digest);

  // The stored version, including tombstones and expired records (callers decide visibility).
  // NotFound if none; Corruption on a bad checksum; InvalidArgument for an empty or oversize key.
  // On error *record is left unchanged.
  Status get(std::string_view key, Record* record);

  // Calls fn(key, ts, digest) for each index entry of (partition, epoch) in key order; stops early
  // (returning OK) when fn returns false. Corruption if an entry's value is malformed; engine
  // errors stop the scan and are returned.
  Status scan_index(
      uint32_t partition, uint64_t epoch,
      const std::function<bool(std::string_view key, Timestamp ts, uint64_t digest)>& fn);

  // Calls fn(epoch, key, ts, digest) for each index entry of `partition` with an epoch in
  // [epoch_first, epoch_last], in (epoch, key) order; otherwise as scan_index().
  Status scan_index_range(uint32_t partition, uint64_t epoch_first, uint64_t epoch_last,
                          const std::function<bool(uint64_t epoch, std::string_view key,
                                                   Timestamp ts, uint64_t digest)>& fn);

  // Every key of `partition`, whatever its epoch, in index order (epoch, then key), starting after
  // `after` (a position fn was given earlier; empty: from the start). fn(position, key) returns
  // false to stop. Positions are opaque (epoch + key) and stay valid across calls, which makes a
  // partition stream resumable. A key rewritten at a later epoch during the scan moves ahead of
  // the position and is seen again; never skipped. Engine errors are returned.
  Status scan_partition(
      uint32_t partition, std::string_view after,
      const std::function<bool(std::string_view position, std::string_view key)>& fn);

  // Calls fn(key, record) for every stored record whose key starts with `prefix` (empty: all), in
  // key order; stops early (returning OK) when fn returns false. A record that fails to decode
  // stops the scan and its Corruption is returned; so are engine errors.
  Status scan_records(std::string_view prefix,
                      const std::function<bool(std::string_view key, const Record& record)>& fn);

  // Set once, before the Store is shared between threads.
  void set_apply_observer(ApplyObserver observer) { observer_ = std::move(observer); }

  Status flush();
  Engine* engine() { return engine_.get(); }
  // The clock given at construction, for callers deciding visibility (expiry) of stored records.
  const Clock* clock() const { return clock_; }

 private:
  std::mutex& stripe_for(std::string_view key);
  // Reads and decodes the stored record of a validated key.
  Status read_stored(std::string_view key, Record* record);

  std::unique_ptr<Engine> engine_;
  const Clock* clock_;
  std::array<std::mutex, kApplyStripes> apply_stripes_;
  ApplyObserver observer_;
};

}  // namespace chorus
