// Rate-limited logging for connection errors.
//
// Internal to src/net. A dead or misbehaving peer can fail thousands of connections or calls per
// second; logging each at warn would bury everything else. log_connection_error() logs at warn up
// to kConnectionWarnsPerSecondMax times per second (process-wide) and at debug beyond that.
// Thread-safe (one atomic window; the count is approximate under races, which is fine for logs).
#pragma once

#include <cstdint>
#include <string>

namespace chorus {

constexpr uint32_t kConnectionWarnsPerSecondMax = 20;

void log_connection_error(const std::string& message);

}  // namespace chorus
