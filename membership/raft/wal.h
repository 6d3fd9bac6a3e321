// Wal: the durable storage of one node's Raft log (hard state, entries, latest snapshot) in one
// directory (the node uses <data>/raft).
//
// Contract, matching what raft.h asks of its caller:
//   open(dir)           creates the directory or recovers it; storage() is then the recovered
//                       state (hard state, latest snapshot, entries after it), ready for
//                       Raft::create.
//   save(hs, entries)   appends the entries (overwriting the stored suffix from
//                       entries.front().index on, like MemoryStorage::append) and then the hard
//                       state, and fsyncs before returning OK. Only after OK may the Ready's
//                       messages be sent: this is what makes "fsync before acknowledging" true.
//   save_snapshot(s)    makes the snapshot durable (temp file, fsync, rename, fsync directory),
//                       applies it like MemoryStorage::apply_snapshot, and drops what it covers,
//                       so disk use stays bounded when the caller compacts periodically.
// storage() always mirrors what is durable; the Raft log is small (membership metadata), so
// holding it in memory as well is cheap and lets save() check its input instead of trusting it.
//
// On-disk layout (all integers little-endian):
//   LOCK                     flock(2)ed while open: two processes never share the directory.
//   wal-<seq:016x>.log       segments, replayed in seq order. Header (25 bytes):
//                              "CHORUSWL" | u32 format (=1) | u64 seq | u8 kind | u32 check
//                            kind 2 (base) segments begin with a base record and restart the log
//                            from a snapshot; kind 1 segments continue the previous one.
//                            Then records:
//                              u32 body_bytes | u8 type | u32 header_check | body | u64 check
//                            header_check = low 32 bits of xxh3_64(body_bytes, type);
//                            check = xxh3_64 of every preceding byte of the record.
//                            Types: 1 entry (codec.h encode_entry), 2 hard state
//                            (encode_hard_state), 3 base (varint snapshot index, varint snapshot
//                            term, varint+bytes encoded hard state).
//   snap-<index:016x>.snap   "CHORUSSN" | u32 format (=1) | encode_snapshot | u64 xxh3 of all
//   before
// New segments and snapshots are written under a .tmp name, fsynced, renamed and the directory
// fsynced, so a segment header or a snapshot is never torn; only appends to the last segment
// can be. Recovery starts at the newest base segment (older ones and snapshots it does not name
// are leftovers of an interrupted cleanup and are deleted) and holds the segments from there on
// in memory while it replays them: bounded, like the disk, when the caller compacts.
//
// Recovery and errors: a torn tail (the last segment ends in a truncated or checksum-bad record
// with no valid record after it, as a crash mid-append leaves) is cut off, counted in
// recovery() and logged; the bytes it held were never acknowledged. (A crash can also persist
// pages of an unsynced multi-page batch out of order, leaving valid records after a hole; that
// is reported as Corruption too: safe, since it stops the node rather than guessing.) A bad record
// anywhere else, a bad header, a missing segment, an undecodable record, a gap in the entries or a
// bad or missing snapshot is Corruption naming the file (and offset): data is never silently
// skipped. I/O failures are IOError with the errno text. A failed write or sync leaves the files in
// an unknown state, so it is sticky: every later save returns the same error, and the caller must
// reopen (which recovers whatever became durable). Caller mistakes (a gap in the entries,
// entries reaching into the snapshot, sizes over the codec limits) are InvalidArgument and change
// nothing. No exception crosses this interface.
//
// Thread-safety: none; a Wal is owned and driven by one thread (the Raft strand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "membership/raft/codec.h"
#include "membership/raft/file_system.h"
#include "membership/raft/messages.h"
#include "membership/raft/raft.h"
#include "membership/raft/raft_log.h"

namespace chorus::raft {

// Segment and record framing sizes (see the layout above).
constexpr size_t kWalSegmentHeaderBytes = 8 + 4 + 8 + 1 + 4;
constexpr size_t kWalRecordOverheadBytes = 4 + 1 + 4 + 8;
// The largest record body: an encoded entry (a base record and a hard state are far smaller).
constexpr size_t kWalRecordBodyBytesMax = 1 + kEntryBytesMax;
constexpr size_t kWalRecordBytesMax = kWalRecordOverheadBytes + kWalRecordBodyBytesMax;
// A segment is closed once the next record would take it past this; 16 MiB holds hundreds of
// maximal entries and thousands of typical (sub-KiB) metadata commands.
constexpr uint64_t kWalSegmentBytesDefault = 16 << 20;
// What recovery reads of one segment at most: a target of up to kWalSegmentTargetBytesMax plus
// one record past it (a single record always fits in an otherwise empty segment).
constexpr uint64_t kWalSegmentTargetBytesMax = 256 << 20;
constexpr uint64_t kWalSegmentBytesMax =
    kWalSegmentHeaderBytes + kWalSegmentTargetBytesMax + kWalRecordBytesMax;
constexpr size_t kWalSnapshotFileBytesMax = 8 + 4 + kSnapshotBytesMax + 8;
// Appends are handed to the file in pieces of about this size, so a big batch does not need one
// big buffer.
constexpr size_t kWalWriteChunkBytes = 1 << 20;

static_assert(kWalSegmentBytesDefault <= kWalSegmentTargetBytesMax);
static_assert(kWalRecordBodyBytesMax <= UINT32_MAX, "record length travels as u32");
static_assert(kWalRecordBytesMax < kWalSegmentBytesDefault,
              "a segment must hold many records, not one");

struct WalOptions {
  // Segment size at which the WAL starts a new one (at least one record goes in each). At most
  // kWalSegmentTargetBytesMax; tests use small values to exercise rotation.
  uint64_t segment_target_bytes = kWalSegmentBytesDefault;
  FileSystem* fs = nullptr;  // default_file_system() when null; not owned, must outlive the Wal
};

// What open() found and did; counters prove the rare paths were taken.
struct WalRecovery {
  uint64_t segments_replayed = 0;
  uint64_t records_replayed = 0;
  bool torn_tail = false;            // a partial last record was found and cut off
  uint64_t torn_tail_offset = 0;     // where the last segment was truncated
  uint64_t torn_tail_bytes = 0;      // bytes dropped
  std::string torn_tail_file;        // name of the segment, inside the directory
  uint64_t stale_files_removed = 0;  // superseded segments/snapshots and .tmp files deleted
};

class Wal {
 public:
  // Creates `dir` (and parents) or recovers it. On error returns it and holds nothing open.
  [[nodiscard]] static Result<std::unique_ptr<Wal>> open(const std::string& dir,
                                                         const WalOptions& options = {});
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // What is durable: the recovered state plus every successful save since.
  const MemoryStorage& storage() const { return storage_; }
  const WalRecovery& recovery() const { return recovery_; }
  const std::string& dir() const { return dir_; }
  // Sequence number of the segment appends go to; grows with every rotation and snapshot.
  uint64_t current_segment() const { return segment_seq_; }

  // Appends entries then hard state (either may be empty) and fsyncs; OK means durable. Entries
  // must be contiguous and start within [storage().first_index(), storage().last_index() + 1].
  [[nodiscard]] Status save(const std::optional<HardState>& hard_state,
                            const std::vector<Entry>& entries);
  // Durably installs `snapshot` (ignored, OK, when not newer than storage().snapshot()), then
  // deletes the segments and snapshot it supersedes. A failed cleanup is logged and retried by
  // the next save_snapshot or open; it does not fail the call.
  [[nodiscard]] Status save_snapshot(const Snapshot& snapshot);
  // One Ready's persistence in the order raft.h requires: snapshot, then hard state + entries.
  [[nodiscard]] Status save_ready(const Ready& ready);

 private:
  Wal(std::string dir, const WalOptions& options);

  [[nodiscard]] Status recover();
  [[nodiscard]] Status create_first_segment();
  [[nodiscard]] Status read_segment(uint64_t seq, std::string* contents);
  [[nodiscard]] Status replay_from_newest_base(const std::vector<uint64_t>& seqs);
  [[nodiscard]] Status replay_segment(uint64_t seq, const std::string& contents, bool last);
  [[nodiscard]] Status apply_record(uint8_t type, std::string_view body, bool first_in_base,
                                    const std::string& where);
  [[nodiscard]] Status apply_base_record(std::string_view body, const std::string& where);
  [[nodiscard]] Result<Snapshot> read_snapshot_file(uint64_t index);
  [[nodiscard]] Status cut_torn_tail(uint64_t seq, uint64_t offset, uint64_t size_bytes);
  [[nodiscard]] Status open_current_segment(uint64_t seq, uint64_t size_bytes);

  [[nodiscard]] Status append_record(uint8_t type, std::string_view body);
  [[nodiscard]] Status flush_pending();
  [[nodiscard]] Status rotate();
  [[nodiscard]] Status write_new_segment(uint64_t seq, const MemoryStorage* base,
                                         uint64_t* size_bytes);
  [[nodiscard]] Status write_snapshot_file(const Snapshot& snapshot);
  uint64_t remove_stale_files();
  [[nodiscard]] Status fail(Status st);

  std::string path_of(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
  WalOptions options_;
  FileSystem* fs_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<WritableFile> segment_;  // the last segment, open for appends
  uint64_t segment_seq_ = 0;
  uint64_t segment_bytes_ = 0;    // header + records written (durable or pending)
  uint64_t segment_records_ = 0;  // records in the current segment
  std::string pending_;           // records appended but not yet handed to the file
  uint64_t base_seq_ = 0;         // the newest base segment
  MemoryStorage storage_;
  WalRecovery recovery_;
  Status failed_;  // sticky: set by the first write or sync failure
};

}  // namespace chorus::raft
