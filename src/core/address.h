// Parsing of "host:port" peer and listen addresses.
//
// The one parser of them: the transport, the HTTP server, gossip and the node (protected mode).
// Pure functions, thread-safe. On malformed input they return InvalidArgument and leave the
// outputs unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace chorus {

// Splits "host:port" at the last ':' (so "[::1]:7000" works too; the brackets are removed). An
// empty host (":7000") is returned as empty; the caller decides what it means. The port must be
// 0..65535.
[[nodiscard]] Status parse_host_port(const std::string& address, std::string* host, uint16_t* port);

}  // namespace chorus
