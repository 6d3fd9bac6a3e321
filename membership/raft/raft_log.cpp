#include "membership/raft/raft_log.h"

#include <algorithm>
#include <cstdlib>

#include "core/assert.h"

namespace chorus::raft {

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kAppend:
      return "Append";
    case MessageType::kAppendResp:
      return "AppendResp";
    case MessageType::kSnapshot:
      return "Snapshot";
  }
  return "?";
}

void MemoryStorage::append(const std::vector<Entry>& new_entries) {
  if (new_entries.empty()) return;
  const uint64_t first = new_entries.front().index;
  // A gap would silently lose entries, and rewriting the snapshot would rewrite committed
  // history: a broken caller, not a recoverable error.
  CHORUS_ASSERT(first >= first_index() && first <= last_index() + 1);
  entries_.resize(first - first_index());
  entries_.insert(entries_.end(), new_entries.begin(), new_entries.end());
}

void MemoryStorage::apply_snapshot(const Snapshot& snapshot) {
  const uint64_t index = snapshot.metadata.index;
  if (index <= snapshot_.metadata.index) return;
  std::vector<Entry> kept;
  if (index < last_index() && entries_[index - first_index()].term == snapshot.metadata.term) {
    kept.assign(entries_.begin() + static_cast<ptrdiff_t>(index - first_index() + 1),
                entries_.end());
  }
  entries_ = std::move(kept);
  snapshot_ = snapshot;
}

RaftLog::RaftLog(const MemoryStorage& persisted) {
  const SnapshotMetadata& snap = persisted.snapshot().metadata;
  entries_.push_back(Entry{snap.term, snap.index, {}});
  for (const Entry& e : persisted.entries()) {
    CHORUS_ASSERT(e.index == last_index() + 1 && e.term >= last_term());
    entries_.push_back(e);
  }
  committed_ = applied_ = snapshot_index();
  stabled_ = last_index();
}

uint64_t RaftLog::term(uint64_t index) const {
  return has_term(index) ? entries_[offset_of(index)].term : 0;
}

const Entry& RaftLog::entry(uint64_t index) const {
  CHORUS_ASSERT(index >= first_index() && index <= last_index());
  return entries_[offset_of(index)];
}

bool RaftLog::match_term(uint64_t index, uint64_t t) const {
  return has_term(index) && entries_[offset_of(index)].term == t;
}

bool RaftLog::is_up_to_date(uint64_t index, uint64_t t) const {
  return t > last_term() || (t == last_term() && index >= last_index());
}

void RaftLog::append(std::vector<Entry> entries) {
  for (Entry& e : entries) {
    CHORUS_ASSERT(e.index == last_index() + 1 && e.term >= last_term());
    entries_.push_back(std::move(e));
  }
}

uint64_t RaftLog::find_conflict(const std::vector<Entry>& entries) const {
  for (const Entry& e : entries) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return 0;
}

void RaftLog::truncate_and_append(const std::vector<Entry>& entries) {
  const uint64_t first = entries.front().index;
  // Log Matching + Leader Completeness mean a committed entry is never overwritten.
  CHORUS_ASSERT(first > committed_);
  entries_.resize(offset_of(first));
  stabled_ = std::min(stabled_, first - 1);
  entries_.insert(entries_.end(), entries.begin(), entries.end());
}

std::optional<uint64_t> RaftLog::maybe_append(uint64_t prev_index, uint64_t prev_term,
                                              uint64_t leader_commit,
                                              const std::vector<Entry>& entries,
                                              uint64_t* first_written) {
  *first_written = 0;
  if (!match_term(prev_index, prev_term)) return std::nullopt;
  const uint64_t last_new = prev_index + entries.size();
  const uint64_t conflict = find_conflict(entries);
  if (conflict != 0) {
    // Only the suffix from the first conflict on is new; a duplicate or reordered older Append
    // must not truncate entries it already agrees with.
    truncate_and_append(
        std::vector<Entry>(entries.begin() + (conflict - prev_index - 1), entries.end()));
    *first_written = conflict;
  }
  // Commit only up to what this message proved matches the leader, never past it: entries after
  // last_new may be from a stale term.
  commit_to(std::max(committed_, std::min(leader_commit, last_new)));
  return last_new;
}

uint64_t RaftLog::find_conflict_by_term(uint64_t index, uint64_t t) const {
  index = std::min(index, last_index());
  while (index > 0 && term(index) > t) --index;
  return index;
}

std::vector<Entry> RaftLog::slice(uint64_t lo, size_t max_count) const {
  CHORUS_ASSERT(lo >= first_index() && lo <= last_index() + 1);
  const uint64_t hi = std::min<uint64_t>(last_index() + 1, lo + max_count);
  return std::vector<Entry>(entries_.begin() + offset_of(lo), entries_.begin() + offset_of(hi));
}

void RaftLog::commit_to(uint64_t index) {
  CHORUS_ASSERT(index <= last_index());
  committed_ = std::max(committed_, index);
}

void RaftLog::compact(uint64_t index) {
  // Only applied (hence committed and persisted) entries may leave the log: the snapshot that
  // replaces them must describe a state the application actually reached.
  CHORUS_ASSERT(index >= snapshot_index() && index <= applied_ && applied_ <= stabled_);
  const uint64_t t = term(index);
  entries_.erase(entries_.begin(), entries_.begin() + offset_of(index));
  entries_.front() = Entry{t, index, {}};
}

bool RaftLog::restore(const SnapshotMetadata& snap) {
  // An older snapshot would roll back committed state; the caller filters those out.
  CHORUS_ASSERT(snap.index > committed_);
  const bool keep = match_term(snap.index, snap.term);
  if (keep) {
    entries_.erase(entries_.begin(), entries_.begin() + offset_of(snap.index));
  } else {
    entries_.clear();
    entries_.push_back(Entry{});
  }
  entries_.front() = Entry{snap.term, snap.index, {}};
  committed_ = applied_ = stabled_ = snap.index;
  return keep;
}

std::vector<Entry> RaftLog::unstable_entries() const {
  return std::vector<Entry>(entries_.begin() + offset_of(stabled_) + 1, entries_.end());
}

std::vector<Entry> RaftLog::next_committed_entries() const {
  return std::vector<Entry>(entries_.begin() + offset_of(applied_) + 1,
                            entries_.begin() + offset_of(committed_) + 1);
}

void RaftLog::stable_to(uint64_t index) {
  CHORUS_ASSERT(index <= last_index());
  stabled_ = std::max(stabled_, index);
}

void RaftLog::applied_to(uint64_t index) {
  CHORUS_ASSERT(index <= committed_ && index >= applied_);
  applied_ = index;
}

}  // namespace chorus::raft
