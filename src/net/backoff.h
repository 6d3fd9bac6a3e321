// Reconnect backoff: how long an outbound peer connection waits after consecutive failures.
//
// Internal to src/net. A pure function (the caller supplies the randomness), thread-safe.
#pragma once

#include <cstdint>

namespace chorus {

// Delay before the next connect attempt after `failures` (>= 1) consecutive failures: the
// exponential ceiling min_ms * 2^(failures-1), capped at max_ms, with "equal jitter" (a uniformly
// random value in [ceiling/2, ceiling], never below min_ms). The jitter matters when one node dies:
// every peer loses it at the same moment and would otherwise retry in lockstep.
uint64_t reconnect_delay_ms(uint64_t min_ms, uint64_t max_ms, uint32_t failures, uint64_t random);

}  // namespace chorus
