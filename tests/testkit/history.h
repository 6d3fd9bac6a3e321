// History: records what concurrent test clients did against the store and checks it against the
// guarantees of DESIGN §1. Pure: no I/O, no clock reads (callers pass now_ns() values).
//
// Each operation is recorded with its key, the steady-clock interval [start_ns, end_ns] in which
// the client issued it and saw the answer, and its outcome:
//   write/del: ok(timestamp) when acknowledged (2xx), failed() when definitely not applied (4xx),
//              indeterminate() when it may or may not have been applied (5xx, timeout, no answer);
//   read:      ok(value, timestamp), not_found(), failed().
// Values must be unique per write (e.g. "t3-17"): a read's value identifies the write it came
// from. A delete is a tombstone write and has no value.
// After the run, the test reads every key once more (all faults healed) and records the answer
// with record_final().
//
// check() reports (counts plus the first kExamplesMax descriptions of each):
//   lost_acknowledged_writes  the final version of a key is older (by timestamp) than the newest
//                             acknowledged write or delete of that key, or the key is missing
//                             while its newest acknowledged write is a put;
//   stale_reads               a successful read R that started after an acknowledged write W to
//                             the same key ended returned an older version than W (not_found
//                             counts as older than a put) — strict/monotonic quorum reads;
//   later_write_lost          acknowledged W1, W2 on one key, W2 started after W1 ended, yet
//                             W2.timestamp <= W1.timestamp ("a later write wins");
//   unknown_values            a read returned a value no write wrote, a value whose only write
//                             failed definitely (4xx), or a value whose write started after the
//                             read ended.
// An indeterminate write may or may not be visible; reading its value is never an anomaly, and an
// indeterminate delete may explain a not_found. A timestamp tie between different versions is not
// reported (the coordinator id breaks it, which the history does not know).
//
// Thread-safety: recording and check() may be called concurrently from any thread (one mutex).
// Errors: none; check() describes anomalies in its report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace chorus::testkit {

// Examples kept per anomaly kind in a report.
inline constexpr size_t kExamplesMax = 10;

// Nanoseconds on the steady clock: the time base for every recorded interval.
uint64_t now_ns();

struct WriteOutcome {
  enum class Kind { kOk, kFailed, kIndeterminate };
  Kind kind = Kind::kIndeterminate;
  uint64_t timestamp = 0;  // HLC timestamp of the acknowledged version, for kOk
  std::string node;        // the coordinator that stamped it (the tie-break), when known

  static WriteOutcome ok(uint64_t timestamp, std::string node = {}) {
    return {Kind::kOk, timestamp, std::move(node)};
  }
  static WriteOutcome failed() { return {Kind::kFailed, 0, {}}; }
  static WriteOutcome indeterminate() { return {Kind::kIndeterminate, 0, {}}; }
};

// True when a's version is newer than b's in Chorus's order: timestamp first, then the stamping
// node's id. Equal timestamps with a node unknown cannot be ordered: false.
inline bool newer_version(const WriteOutcome& a, const WriteOutcome& b) {
  if (a.timestamp != b.timestamp) return a.timestamp > b.timestamp;
  return !a.node.empty() && !b.node.empty() && a.node > b.node;
}

struct ReadOutcome {
  enum class Kind { kOk, kNotFound, kFailed };
  Kind kind = Kind::kFailed;
  std::string value;       // for kOk
  uint64_t timestamp = 0;  // for kOk

  static ReadOutcome ok(std::string value, uint64_t timestamp) {
    return {Kind::kOk, std::move(value), timestamp};
  }
  static ReadOutcome not_found() { return {Kind::kNotFound, {}, 0}; }
  static ReadOutcome failed() { return {Kind::kFailed, {}, 0}; }
};

// One kind of anomaly: how many were found and the first kExamplesMax, described.
struct AnomalyList {
  size_t count = 0;
  std::vector<std::string> examples;

  void add(std::string description);
};

struct HistoryReport {
  size_t writes_ok = 0;  // puts and deletes
  size_t writes_failed = 0;
  size_t writes_indeterminate = 0;
  size_t deletes = 0;  // of the writes above, how many were deletes
  size_t reads_ok = 0;
  size_t reads_not_found = 0;
  size_t reads_failed = 0;
  size_t keys = 0;           // distinct keys seen
  size_t keys_verified = 0;  // keys with a record_final()

  AnomalyList lost_acknowledged_writes;
  AnomalyList stale_reads;
  AnomalyList later_write_lost;
  AnomalyList unknown_values;

  // True when every anomaly count is 0.
  bool clean() const;
  // Multi-line: counts, then each non-empty anomaly list with its examples.
  std::string to_string() const;
};

class History {
 public:
  void write(const std::string& key, const std::string& value, uint64_t start_ns, uint64_t end_ns,
             const WriteOutcome& outcome);
  // A DELETE. An acknowledged delete whose reply carried no timestamp (0) is recorded as
  // indeterminate: it happened, but it cannot be ordered.
  void del(const std::string& key, uint64_t start_ns, uint64_t end_ns, WriteOutcome outcome);
  void read(const std::string& key, uint64_t start_ns, uint64_t end_ns, ReadOutcome outcome);
  // The verification read after the run; found == false means 404. A later call for the same
  // key replaces the earlier one.
  void record_final(const std::string& key, const std::string& value, uint64_t timestamp,
                    bool found);

  HistoryReport check() const;

  // Internal records; public so the checker's helpers in history.cpp can name them.
  struct WriteRecord {
    std::optional<std::string> value;  // std::nullopt: a delete
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    WriteOutcome outcome;
  };
  struct ReadRecord {
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    ReadOutcome outcome;
  };
  struct FinalRecord {
    bool found = false;
    std::string value;
    uint64_t timestamp = 0;
  };
  struct KeyHistory {
    std::vector<WriteRecord> writes;
    std::vector<ReadRecord> reads;
    std::optional<FinalRecord> final;
  };

 private:
  mutable std::mutex mu_;
  std::map<std::string, KeyHistory> keys_;
  uint64_t first_start_ns_ = UINT64_MAX;  // origin of the times printed in examples
};

}  // namespace chorus::testkit
