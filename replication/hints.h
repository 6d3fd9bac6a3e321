// HintStore: durable hinted-handoff records, kept in their own engine (<data>/hints).
//
// When an owner of a key cannot take a write (it is down, or the RPC to it failed), the write is
// kept here as a hint for that owner and delivered when it is reachable again (HintDelivery). Hints
// are bounded per target (bytes) and by age; past a bound, add() refuses with Busy: the write
// itself still succeeds if W was met, and anti-entropy repairs the rest (DESIGN.md §5). Hints never
// count toward W.
//
// Engine layout: 'h' + target id + '\0' + big-endian u64 sequence -> fixed64 stored_wall_ms,
// fixed32 partition, length-prefixed key, encoded record (checksummed).
//
// Thread-safety: all methods are safe to call concurrently; the per-target accounting sits behind
// a mutex held only for map updates, never across engine I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/record.h"
#include "engines/engine.h"

namespace chorus {

struct HintOptions {
  // Off only in tests that must see anti-entropy or read repair do the work alone.
  bool enabled = true;
  // 256 MiB per target holds ~2.5M 100-byte writes: hours of a busy node's share of traffic.
  uint64_t bytes_per_target_max = uint64_t{256} << 20;
  // Older hints are dropped at delivery time; anti-entropy owns repair past this (DESIGN.md §5).
  uint64_t age_max_ms = 3ull * 3600 * 1000;
};

struct Hint {
  std::string engine_key;
  std::string key;
  uint32_t partition = 0;
  uint64_t stored_wall_ms = 0;
  Record record;
  uint64_t bytes = 0;
};

class HintStore {
 public:
  HintStore(std::unique_ptr<Engine> engine, const Clock* clock, HintOptions options,
            MetricsRegistry* metrics);

  // Scans the engine to rebuild per-target accounting and the sequence counter.
  Status open();

  // Durably stores a hint (WAL-synced when sync). Busy when the target's byte bound is reached.
  Status add(const std::string& target, std::string_view key, uint32_t partition,
             const Record& record, bool sync);

  // Up to max_count of the target's oldest hints. A hint that fails its checksum is logged,
  // counted (chorus_hints_corrupt_total) and deleted rather than returned or left to block the
  // queue. IOError from the engine.
  Status peek(const std::string& target, size_t max_count, std::vector<Hint>* out);

  // Deletes delivered (or expired) hints of the target.
  Status remove(const std::string& target, const std::vector<Hint>& hints);

  // Targets that have pending hints.
  std::vector<std::string> targets() const;
  uint64_t pending_bytes(const std::string& target) const;
  uint64_t pending_count(const std::string& target) const;
  const HintOptions& options() const { return options_; }

 private:
  struct Pending {
    uint64_t bytes = 0;
    uint64_t count = 0;
  };
  static std::string prefix(const std::string& target);
  void account(const std::string& target, int64_t bytes, int64_t count);

  std::unique_ptr<Engine> engine_;
  const Clock* clock_;
  HintOptions options_;
  std::atomic<uint64_t> next_seq_{1};
  mutable std::mutex mu_;
  std::map<std::string, Pending> pending_;
  Counter* stored_;
  Counter* refused_;
  Gauge* pending_bytes_;
  Counter* corrupt_;
};

}  // namespace chorus
