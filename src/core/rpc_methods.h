// RPC method ids on the internode transport: one registry so no two modules pick the same number.
// Stable on the wire: never renumber; retire ids instead of reusing them.
#pragma once

#include <cstdint>

namespace chorus {

enum class RpcMethod : uint16_t {
  kHello = 1,  // membership handshake and liveness (membership/)
  kReplicaWrite = 10,
  kReplicaRead = 11,
};

inline uint16_t method_id(RpcMethod m) {
  return static_cast<uint16_t>(m);
}

}  // namespace chorus
