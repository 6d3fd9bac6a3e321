// Binary encodings of the Raft value types (messages.h): Message for internode RPC, and Entry,
// HardState and Snapshot for the WAL (wal.h), which wraps them in checksummed records.
//
// Every top-level encoding starts with a format version byte (kCodecVersion); integers are
// varints, byte strings are varint-length-prefixed, enums travel as explicit wire codes pinned in
// codec.cpp (so reordering an enum cannot silently change the wire). Layouts:
//
//   Entry      u8 version | entry body
//   entry body u8 type | varint term | varint index | varint+bytes data
//   HardState  u8 version | varint term | varint vote | varint commit
//   Snapshot   u8 version | snapshot body
//   snap body  varint index | varint term | varint #voters | varint voter... | varint #learners
//              | varint learner... | varint+bytes data
//   Message    u8 version | u8 type | varint from | varint to | varint term | varint log_term
//              | varint index | varint commit | u8 reject | varint reject_hint | varint #entries
//              | entry body... | u8 has_snapshot | [snapshot body]
//
// Decoding never reads past its input and never trusts a length before checking it against the
// bytes present and the limits below. Malformed input (truncated, trailing bytes, bad version,
// unknown message or entry type, non-boolean flag, entries that are not contiguous, a ConfState
// that is not sorted and disjoint or names node 0) is Corruption; input over a named limit is
// InvalidArgument. Encoding checks the same limits (pairing the checks on both sides) and
// returns InvalidArgument rather than produce bytes the peer would refuse.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/limits.h"
#include "core/status.h"
#include "membership/raft/messages.h"
#include "membership/raft/raft.h"

namespace chorus::raft {

constexpr uint8_t kCodecVersion = 1;

// An entry's data is a proposal (<= kMaxProposalBytes) or an encoded ConfChange, whose context is
// proposal-sized plus a few bytes of framing (conf_change.cpp); 1 KiB of headroom covers both.
constexpr size_t kEntryDataBytesMax = kMaxProposalBytes + 1024;
// u8 type + two varints of at most 10 bytes + the data's length varint.
constexpr size_t kEntryHeaderBytesMax = 1 + 10 + 10 + 10;
constexpr size_t kEntryBytesMax = kEntryHeaderBytesMax + kEntryDataBytesMax;
// The leader never puts more than kMaxEntriesPerAppend entries in one AppendEntries.
constexpr size_t kMessageEntriesMax = kMaxEntriesPerAppend;
// Voters plus learners in one ConfState: every member of the cluster could be a learner. Equal
// to ring.h's kRingMembersMax (raft depends on core only, so the number is repeated here).
constexpr size_t kConfStateNodesMax = 1024;
// The metadata state machine (members, config, epoch) is small; 4 MiB leaves room for a
// kRingMembersMax-member cluster with generous per-member records.
constexpr size_t kSnapshotDataBytesMax = 4 << 20;
// Snapshot body without its data: index, term, two counts, every node id, the data length.
constexpr size_t kSnapshotHeaderBytesMax = 10 + 10 + 10 + 10 + kConfStateNodesMax * 10 + 10;
constexpr size_t kSnapshotBytesMax = 1 + kSnapshotHeaderBytesMax + kSnapshotDataBytesMax;
// Version, type, flags and eight varints of at most 10 bytes each.
constexpr size_t kMessageHeaderBytesMax = 1 + 1 + 1 + 1 + 8 * 10;
// Raft puts entries (AppendEntries) or a snapshot (InstallSnapshot) in a message, never both at
// their maximum, so the limit is the larger of the two; it must fit one internode frame.
constexpr size_t kMessageBytesMax =
    kMessageHeaderBytesMax + std::max(kMessageEntriesMax * kEntryBytesMax,
                                      1 + kSnapshotHeaderBytesMax + kSnapshotDataBytesMax);
constexpr size_t kHardStateBytesMax = 1 + 3 * 10;

static_assert(kMessageEntriesMax >= kMaxEntriesPerAppend,
              "the codec must accept every AppendEntries the leader builds");
static_assert(kEntryDataBytesMax >= kMaxProposalBytes + 16,
              "a proposal-sized ConfChange context plus its framing must fit an entry");
static_assert(kConfStateNodesMax >= kMaxVoters, "every voter must fit a ConfState");
// 64 KiB of room for the RPC frame header and whatever envelope the transport wraps around it.
static_assert(kMessageBytesMax + 64 * 1024 <= kFrameBytesMax,
              "an encoded Message must fit one internode frame with its envelope");

// Message <-> bytes. Encoding fails (InvalidArgument) only for a value the decoder would refuse:
// over a limit above, entries not contiguous or a malformed ConfState.
[[nodiscard]] Result<std::string> encode_message(const Message& m);
[[nodiscard]] Result<Message> decode_message(std::string_view bytes);

[[nodiscard]] Result<std::string> encode_entry(const Entry& e);
[[nodiscard]] Result<Entry> decode_entry(std::string_view bytes);

std::string encode_hard_state(const HardState& hs);
[[nodiscard]] Result<HardState> decode_hard_state(std::string_view bytes);

[[nodiscard]] Result<std::string> encode_snapshot(const Snapshot& s);
[[nodiscard]] Result<Snapshot> decode_snapshot(std::string_view bytes);

}  // namespace chorus::raft
