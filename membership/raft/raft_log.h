// RaftLog: the in-memory view of one node's Raft log, and MemoryStorage: what a node has persisted.
//
// RaftLog holds every entry from index 1 to last_index() (no compaction yet: see raft.h TODO) plus
// three cursors, always ordered applied <= committed <= last_index:
//   - stabled: entries up to here were handed to the caller for persistence;
//   - committed: entries up to here are known committed (never rolled back, never rewritten);
//   - applied: entries up to here were handed to the caller to apply.
// Truncating a committed entry is a broken invariant and asserts.
//
// MemoryStorage is the simplest durable store: a hard state and a log that the caller updates from
// each Ready (truncate at the first new entry's index, then append). Tests use it as the "disk"
// that survives a simulated crash; the WAL-backed store comes later.
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
  // Starts from persisted entries (indexes 1..n, contiguous); everything restored counts as
  // stabled.
  explicit RaftLog(const std::vector<Entry>& persisted);

  uint64_t last_index() const { return entries_.size() - 1; }
  uint64_t last_term() const { return entries_.back().term; }
  // Term of the entry at `index`; 0 for index 0 and for indexes past the end (never a real term).
  uint64_t term(uint64_t index) const;
  // The entry at `index`, which must be in 1..last_index().
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
  // returns that last new index; otherwise returns nullopt and changes nothing.
  std::optional<uint64_t> maybe_append(uint64_t prev_index, uint64_t prev_term,
                                       uint64_t leader_commit, const std::vector<Entry>& entries);
  // Fast backoff (etcd findConflictByTerm): the highest index <= index whose term <= term.
  uint64_t find_conflict_by_term(uint64_t index, uint64_t term) const;

  // Entries [lo, min(last_index, lo + max_count - 1)]; lo must be in 1..last_index()+1.
  std::vector<Entry> slice(uint64_t lo, size_t max_count) const;

  void commit_to(uint64_t index);  // monotonic; index <= last_index()

  // Drain helpers for Ready: what is not yet handed out, and marking it handed out.
  std::vector<Entry> unstable_entries() const;
  std::vector<Entry> next_committed_entries() const;
  void stable_to(uint64_t index);
  void applied_to(uint64_t index);

 private:
  uint64_t find_conflict(const std::vector<Entry>& entries) const;
  void truncate_and_append(const std::vector<Entry>& entries);

  std::vector<Entry> entries_;  // entries_[0] is a sentinel {term 0, index 0}
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t stabled_ = 0;
};

}  // namespace chorus::raft
