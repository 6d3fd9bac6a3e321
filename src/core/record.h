// Record: one stored version of a key, and its versioned, checksummed binary encoding.
//
// A Record carries the value, the HLC timestamp and the id of the coordinator that stamped it (the
// pair is the record's Version), a tombstone flag for deletes, the cluster epoch the coordinator
// saw, and an optional expiry. Encoding layout (all integers little-endian):
//
//   u8  format (=1) | u8 flags (bit0 tombstone) | u64 timestamp | u64 epoch | u64 expiry_ms
//   varint+bytes origin | varint+bytes value | u64 xxh3_64 of every preceding byte
//
// decode_record() verifies the format and the checksum: a damaged record is reported as
// Corruption, never returned as data and never treated as absent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/hlc.h"
#include "core/status.h"

namespace chorus {

struct Record {
  std::string value;
  Timestamp ts;
  std::string origin;  // id of the node that stamped ts; the tie-break between equal timestamps
  bool tombstone = false;
  uint64_t epoch = 0;
  uint64_t expiry_ms = 0;  // wall-clock Unix ms after which the record reads as absent; 0 = never

  VersionRef version() const { return VersionRef{ts, origin}; }
  bool expired_at(uint64_t wall_ms) const { return expiry_ms != 0 && wall_ms >= expiry_ms; }
  // Absent to a reader: deleted or expired.
  bool absent_at(uint64_t wall_ms) const { return tombstone || expired_at(wall_ms); }
};

// True when a wins over b under last-writer-wins.
inline bool newer_than(const Record& a, const Record& b) {
  return newer_than(a.version(), b.version());
}

std::string encode_record(const Record& record);
void encode_record_to(const Record& record, std::string* out);

// On success fills *record. On failure returns Corruption and leaves *record unspecified.
[[nodiscard]] Status decode_record(std::string_view bytes, Record* record);

// A 64-bit digest of the record's identity and content (value, version, flags, expiry); two
// replicas holding the same version of a key have the same digest. Used by the anti-entropy index.
uint64_t record_digest(const Record& record);

}  // namespace chorus
