// Deterministic simulation of coordinated reads and writes (issue 15): N nodes, each a real
// ReplicaService over a real Store (memory engine) with its own HLC over its own skewed, drifting
// clock, and each coordinating client requests through the real WriteRequestMachine and
// ReadRequestMachine. Messages are encoded with the real codecs and travel a network that loses,
// duplicates and reorders them in virtual time; nodes are partitioned away and crash and restart
// (their store kept, their HLC and in-flight requests lost). Clients run one request at a time
// against random nodes, on a few shared keys.
//
// Checked on the history, per key:
//   - later write wins: an acknowledged write that started after another was acknowledged has
//     the newer version (DESIGN.md §1). Only when W > N/2: two write quorums must share a replica,
//     or the later write never meets the earlier version to re-stamp past it;
//   - no stale quorum read: a successful read returns at least the version of every write
//     acknowledged before it started, and at least what any read that ended before it returned;
//   - a read returns only versions some write stamped, with that write's value;
//   - convergence: once the network heals, the clocks' spread has passed (a replica refuses a
//     version stamped beyond its HLC drift bound until its clock catches up) and hints are
//     delivered, a read of every key at R=N (its repairs applied) leaves every replica holding the
//     same version, at least as new as every acknowledged write.
//
// Failure detection is an oracle: coordinators see exactly the crashed nodes as dead (gossip's
// job, simulated elsewhere), so a partitioned owner is found by RPC timeouts, as in life.
//
// Thread-safety: none; single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chorus::sim {

struct CoordinatorSimOptions {
  uint64_t seed = 1;
  int nodes = 4;
  int replicas = 3;
  int read_quorum = 2;
  int write_quorum = 2;
  int clients = 4;
  int ops_per_client = 40;
  int keys = 3;
  double loss = 0.05;
  double duplicate = 0.05;
  uint64_t latency_max_ms = 15;
  uint64_t rpc_timeout_ms = 120;
  uint64_t request_timeout_ms = 400;
  bool partitions = true;
  bool crashes = true;
  // Each node's wall clock is off by up to this (either way) and drifts by up to 1%.
  int64_t clock_offset_max_ms = 20'000;
  // Test-only: the write machine acknowledges without re-stamping (see write_request.h).
  bool restamp_disabled = false;
};

struct CoordinatorSimResult {
  uint64_t writes_acked = 0;
  uint64_t writes_failed = 0;         // answered with an error
  uint64_t writes_indeterminate = 0;  // the coordinator crashed first
  uint64_t reads_ok = 0;
  uint64_t reads_failed = 0;
  uint64_t restamps = 0;
  uint64_t messages_lost = 0;
  uint64_t messages_duplicated = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  std::vector<std::string> violations;  // empty: every check held
  bool converged = false;
};

CoordinatorSimResult run_coordinator_sim(const CoordinatorSimOptions& options);

}  // namespace chorus::sim
