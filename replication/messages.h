// Internode replication messages and their binary codecs.
//
// Every message starts with the sender's HLC timestamp (DESIGN.md §1: receivers fold it into their
// clock, so causality crosses nodes). Decoders are bounds-checked and return Corruption for
// malformed input; they never trust a length field beyond the frame they were given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/hlc.h"
#include "core/record.h"
#include "core/rpc_methods.h"
#include "core/status.h"

namespace chorus {

// Coordinator -> replica: store this version if it is newer. With a non-empty hint_for, the
// receiver is a stand-in for that owner and keeps the record as a durable hint instead of applying
// it.
// How a replica's "stale ring" refusal (Unavailable) begins; the coordinator recognises it.
inline constexpr std::string_view kStaleRingPrefix = "stale ring";

struct ReplicaWrite {
  Timestamp sender_hlc;
  std::string key;
  uint32_t partition = 0;
  Record record;
  bool sync = false;
  std::string hint_for;
  // The ring epoch of the coordinator's view for a client write (0 for hints and repairs, which
  // carry versions that were already placed). A replica that knows the ring changed after it
  // refuses the write (stale ring), so a coordinator with an old view cannot land a write only on
  // owners a new owner already streamed from (DESIGN.md §6).
  uint64_t view_epoch = 0;
};

// Replica -> coordinator. applied=false with `current` newer than the sent record means the replica
// holds a newer version (the coordinator may re-stamp past it); equal version counts as applied.
struct ReplicaWriteReply {
  Timestamp sender_hlc;
  bool applied = false;
  Timestamp current_ts;
  std::string current_origin;
};

struct ReplicaRead {
  Timestamp sender_hlc;
  std::string key;
};

struct ReplicaReadReply {
  Timestamp sender_hlc;
  bool found = false;
  Record record;
};

std::string encode(const ReplicaWrite& m);
std::string encode(const ReplicaWriteReply& m);
std::string encode(const ReplicaRead& m);
std::string encode(const ReplicaReadReply& m);

[[nodiscard]] Status decode(std::string_view bytes, ReplicaWrite* m);
[[nodiscard]] Status decode(std::string_view bytes, ReplicaWriteReply* m);
[[nodiscard]] Status decode(std::string_view bytes, ReplicaRead* m);
[[nodiscard]] Status decode(std::string_view bytes, ReplicaReadReply* m);

}  // namespace chorus
