// Named limits shared by several modules, with the relationships between them checked at compile
// time. A limit that belongs to one module lives in that module's header.
#pragma once

#include <cstddef>
#include <cstdint>

namespace chorus {

// Keys are 1..1024 bytes (DESIGN.md §4): long enough for composite keys, short enough that an index
// entry (partition, epoch, key) stays small.
constexpr size_t kKeyBytesMax = 1024;
// Default for --max-value-bytes, and the highest value the flag accepts.
constexpr size_t kValueBytesMaxDefault = 1 << 20;
constexpr size_t kValueBytesMaxLimit = 8 << 20;
// Encoded record = value + key-independent header (< 128 bytes) + origin id.
constexpr size_t kNodeIdBytesMax = 64;
constexpr size_t kRecordOverheadBytesMax = 128 + kNodeIdBytesMax;
// One internode frame carries at most one record plus its key and a small message header.
constexpr size_t kFrameBytesMax =
    kValueBytesMaxLimit + kKeyBytesMax + kRecordOverheadBytesMax + 4096;

static_assert(kValueBytesMaxDefault <= kValueBytesMaxLimit);
static_assert(kFrameBytesMax > kValueBytesMaxLimit + kKeyBytesMax + kRecordOverheadBytesMax);
static_assert(kFrameBytesMax < (uint64_t{1} << 31), "frame length must fit a signed 32-bit field");

}  // namespace chorus
