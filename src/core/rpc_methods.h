// RPC method ids on the internode transport: one registry so no two modules pick the same number.
// Stable on the wire: never renumber; retire ids instead of reusing them.
#pragma once

#include <cstdint>

namespace chorus {

enum class RpcMethod : uint16_t {
  kHello = 1,  // retired: the static membership handshake (never reuse)
  kReplicaWrite = 10,
  kReplicaRead = 11,
  kRaftMessage = 20,      // one Raft message, one-way (membership/raft_host)
  kMetaRequest = 21,      // a metadata change for the Raft leader: join, decommission, ...
  kClusterProbe = 22,     // "are you part of a cluster?" before bootstrapping one
  kStreamPartition = 30,  // one page of a partition's records for a new owner (replication/)
  kAntiEntropy = 40,  // one anti-entropy request: roots, hashes, buckets, records (antientropy/)
};

inline uint16_t method_id(RpcMethod m) {
  return static_cast<uint16_t>(m);
}

}  // namespace chorus
