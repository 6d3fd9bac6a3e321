// RpcClient: what a caller of remote procedures needs of the transport (DESIGN.md §3), so that
// the drivers of pure state machines (the coordinator) run over the real Transport in a node and
// over a simulated network in tests.
//
// Contract of call(): `cb` is called exactly once, never inline from call(), with the reply
// payload or why there is none (the remote handler's Status, Timeout after timeout_ms,
// Unavailable, Busy, TooLarge, InvalidArgument); net/transport.h details each case.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"

namespace chorus {

using RpcCallback = std::function<void(Result<std::string> reply)>;

class RpcClient {
 public:
  virtual ~RpcClient() = default;
  virtual void call(const std::string& peer, uint16_t method, std::string payload,
                    uint64_t timeout_ms, RpcCallback cb) = 0;
};

}  // namespace chorus
