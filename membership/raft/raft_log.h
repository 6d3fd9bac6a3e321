// RaftLog: the in-memory view of one node's Raft log, and MemoryStorage: what a node has persisted.
//
// RaftLog holds the entries after the latest snapshot, first_index()..last_index(), plus the
// snapshot's (index, term) as a sentinel so the entry before first_index() can still be matched
// (§7). Four cursors, always ordered snapshot_index <= applied <= committed <= last_index and
// snapshot_index <= applied <= stabled:
//   - stabled: entries up to here were handed to the caller for persistence;
//   - committed: entries up to here are known committed (never rolled back, never rewritten);
//   - applied: entries up to here were handed to the caller to apply (or are in the snapshot).
// Truncating a committed entry, or compacting one not yet applied, is a broken invariant and
// asserts/aborts.
//
// MemoryStorage is the simplest durable store: a hard state, a snapshot and the log after it, that
// the caller updates from each Ready (install the snapshot, truncate at the first new entry's
// index, then append) and from Raft::compact. Tests use it as the "disk" that survives a
// simulated crash; the WAL-backed store mirrors its semantics.
//
// Thread-safety: none; owned by one Raft instance (RaftLog) or its driver (MemoryStorage).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "membership/raft/messages.h"

namespace chorus::raft {

class MemoryStorage {
 public:
  const HardState& hard_state() const { return hard_state_; }
  // The latest snapshot (empty() when none): entries up to its index are compacted away.
  const Snapshot& snapshot() const { return snapshot_; }
  // Indexes first_index()..last_index(), contiguous.
  const std::vector<Entry>& entries() const { return entries_; }
  uint64_t first_index() const { return snapshot_.metadata.index + 1; }
  uint64_t last_index() const { return snapshot_.metadata.index + entries_.size(); }

  void set_hard_state(const HardState& hs) { hard_state_ = hs; }
  // Replaces everything from new_entries.front().index on; the new entries must extend or overlap
  // the stored log without a gap, and not reach into the snapshot.
  void append(const std::vector<Entry>& new_entries);
  // Installs a snapshot received from the leader or taken locally: entries it covers are dropped;
  // entries after it are kept only if the log agrees with it at its index (same term there),
  // otherwise the whole log is replaced by the snapshot. Older snapshots are ignored.
  void apply_snapshot(const Snapshot& snapshot);

 private:
  HardState hard_state_;
  Snapshot snapshot_;
  std::vector<Entry> entries_;
};

class RaftLog {
 public:
  // Starts from what `persisted` holds: its snapshot (if any) is the compaction point and counts
  // as committed and applied; its entries count as stabled. Raft::create validated them.
  explicit RaftLog(const MemoryStorage& persisted);

  // Index and term of the compaction point (0, 0 when nothing was compacted).
  uint64_t snapshot_index() const { return entries_.front().index; }
  uint64_t snapshot_term() const { return entries_.front().term; }
  uint64_t first_index() const { return snapshot_index() + 1; }
  uint64_t last_index() const { return snapshot_index() + entries_.size() - 1; }
  uint64_t last_term() const { return entries_.back().term; }
  // Whether term(index) is known: index in snapshot_index()..last_index().
  bool has_term(uint64_t index) const { return index >= snapshot_index() && index <= last_index(); }
  // Term of the entry at `index`; the snapshot's term at snapshot_index(); 0 for indexes
  // compacted away or past the end (never a real term).
  uint64_t term(uint64_t index) const;
  // The entry at `index`, which must be in first_index()..last_index().
  const Entry& entry(uint64_t index) const;
  bool match_term(uint64_t index, uint64_t term) const;
  // Raft §5.4.1: is a log ending at (last_index, last_term) at least as up to date as ours?
  bool is_up_to_date(uint64_t last_index, uint64_t last_term) const;

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }
  uint64_t stabled() const { return stabled_; }

  // Leader path: appends entries that continue the log exactly (index last_index()+1 on).
  void append(std::vector<Entry> entries);
  // Follower path (§5.3): if our entry at prev_index has prev_term, merges `entries` (truncating
  // the first conflicting suffix), advances commit to min(leader_commit, last new index) and
  // returns that last new index; otherwise returns nullopt and changes nothing. prev_index must
  // not be below committed() (so not below the snapshot either). *first_written is set to the
  // index of the first entry written into the log, 0 when the log did not change.
  std::optional<uint64_t> maybe_append(uint64_t prev_index, uint64_t prev_term,
                                       uint64_t leader_commit, const std::vector<Entry>& entries,
                                       uint64_t* first_written);
  // Fast backoff (etcd findConflictByTerm): the highest index <= index whose term <= term
  // (indexes compacted away count as term 0).
  uint64_t find_conflict_by_term(uint64_t index, uint64_t term) const;

  // Entries [lo, min(last_index, lo + max_count - 1)]; lo must be in first_index()..last_index()+1.
  std::vector<Entry> slice(uint64_t lo, size_t max_count) const;

  void commit_to(uint64_t index);  // monotonic; index <= last_index()

  // Log compaction (§7): drops the entries up to `index`, which must be in
  // snapshot_index()..applied(); the entry at `index` becomes the new compaction point.
  void compact(uint64_t index);
  // Installs a snapshot newer than committed(), mirroring MemoryStorage::apply_snapshot: entries
  // after it are kept if our log has the snapshot's term at its index, otherwise the whole log is
  // replaced. Commit and applied move to the snapshot; the kept entries count as unstable again
  // (stabled = the snapshot index) so the caller re-persists them after its own apply_snapshot,
  // whatever its stored log held. Returns whether entries were kept.
  bool restore(const SnapshotMetadata& snapshot);

  // Drain helpers for Ready: what is not yet handed out, and marking it handed out.
  std::vector<Entry> unstable_entries() const;
  std::vector<Entry> next_committed_entries() const;
  void stable_to(uint64_t index);
  void applied_to(uint64_t index);

 private:
  uint64_t find_conflict(const std::vector<Entry>& entries) const;
  void truncate_and_append(const std::vector<Entry>& entries);
  // Position of `index` in entries_; index must be in snapshot_index()..last_index().
  size_t offset_of(uint64_t index) const { return static_cast<size_t>(index - snapshot_index()); }

  // entries_[0] is a sentinel {snapshot term, snapshot index}: {0, 0} before any compaction.
  std::vector<Entry> entries_;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t stabled_ = 0;
};

}  // namespace chorus::raft
