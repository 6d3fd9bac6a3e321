// Deterministic simulation of the anti-entropy exchange (antientropy/exchange.h): in-memory
// replicas of one partition, a network that loses, duplicates and reorders messages in virtual
// time, and the checks: after exchanges between every pair the replicas hold identical records,
// and no record was ever sent to a replica that already held that version.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "antientropy/exchange.h"
#include "core/record.h"

namespace chorus::sim {

// One replica's records, kept as a Store keeps them (last-writer-wins), with its index derived.
class MemoryReplica : public ReplicaData {
 public:
  Status scan(uint32_t partition, uint64_t epoch_first, uint64_t epoch_last,
              const IndexVisitor& fn) override;
  Status read(std::string_view key, std::string* record) override;
  Result<bool> apply(uint32_t partition, std::string_view key, std::string_view record) override;

  void put(const std::string& key, const Record& record) { records_[key] = record; }
  const std::map<std::string, Record>& records() const { return records_; }
  // Applies that carried a version this replica already held (counted, and applied as no-ops).
  uint64_t equal_version_applies = 0;

 private:
  std::map<std::string, Record> records_;
};

struct AaeSimOptions {
  uint64_t seed = 1;
  size_t replicas = 3;
  size_t keys = 600;
  uint64_t epochs = 3;
  double loss = 0.1;
  double duplicate = 0.1;
  uint64_t latency_max_ms = 20;  // each message takes 1..latency_max_ms: reordering
  uint64_t timeout_ms = 100;
  size_t leaves = 16;
  bool identical = false;  // every replica holds the newest version of every key
};

struct AaeSimResult {
  bool converged = false;      // every replica holds the same records
  std::string first_mismatch;  // when not converged
  uint64_t exchanges = 0;
  uint64_t exchanges_failed = 0;
  uint64_t redundant_transfers = 0;  // records sent to a replica holding that version already
  uint64_t records_moved = 0;
  uint64_t divergent_keys = 0;  // keys not identical on every replica before the exchanges
  uint64_t messages_lost = 0;
  uint64_t messages_duplicated = 0;
};

AaeSimResult run_aae_sim(const AaeSimOptions& options);

}  // namespace chorus::sim
