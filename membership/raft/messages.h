// Raft wire-level value types: log entries, the durable hard state, and the messages peers
// exchange.
//
// These are plain values with no behaviour; the Raft core (raft.h) produces and consumes them and
// the caller moves them over whatever transport it has. Encoding them for the network or the WAL is
// the caller's job (membership/raft/codec.h).
//
// Thread-safety: values; share by copy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::raft {

using NodeId = uint64_t;
// Node ids start at 1; 0 means "nobody" (no vote cast, no known leader).
constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,      // data is an opaque application command (empty: a new leader's no-op)
  kConfChange = 1,  // data is an encoded ConfChange (encode_conf_change below)
};

struct Entry {
  uint64_t term = 0;
  uint64_t index = 0;
  std::string data;
  EntryType type = EntryType::kNormal;

  bool operator==(const Entry& o) const {
    return term == o.term && index == o.index && data == o.data && type == o.type;
  }
};

// Single-server membership change (thesis §4.1), proposed with Raft::propose_conf_change. At most
// one is uncommitted at a time. Raft tracks the configuration itself (no application call): the
// application sees the change take effect when the entry commits (Raft::conf_state()).
enum class ConfChangeType : uint8_t {
  kAddVoter = 0,    // add a voter, or promote a learner
  kAddLearner = 1,  // add a non-voting member that receives the log (or demote a voter)
  kRemoveNode = 2,  // remove a voter or a learner
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId node = kNoNode;
  std::string context;  // opaque to Raft: the application's command riding on this change

  bool operator==(const ConfChange& o) const {
    return type == o.type && node == o.node && context == o.context;
  }
};

// ConfChange <-> Entry::data. Decoding returns false (and leaves *out unspecified) on malformed
// input.
std::string encode_conf_change(const ConfChange& cc);
bool decode_conf_change(std::string_view data, ConfChange* out);

// Who takes part: voters count toward quorums; learners only receive the log. Sorted, disjoint.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool operator==(const ConfState& o) const { return voters == o.voters && learners == o.learners; }
};

// A point-in-time image of the application state machine covering the log up to `index`,
// replacing the entries it covers (log compaction, §7).
struct SnapshotMetadata {
  uint64_t index = 0;
  uint64_t term = 0;
  ConfState conf;

  bool operator==(const SnapshotMetadata& o) const {
    return index == o.index && term == o.term && conf == o.conf;
  }
};

struct Snapshot {
  SnapshotMetadata metadata;
  std::string data;  // opaque application state

  bool empty() const { return metadata.index == 0; }
  bool operator==(const Snapshot& o) const { return metadata == o.metadata && data == o.data; }
};

// What must be on stable storage before any message of the same Ready is sent (Raft Figure 2
// "persistent state"; commit is kept too so a restart does not re-deliver less than it could).
struct HardState {
  uint64_t term = 0;
  NodeId vote = kNoNode;
  uint64_t commit = 0;

  bool operator==(const HardState& o) const {
    return term == o.term && vote == o.vote && commit == o.commit;
  }
  bool operator!=(const HardState& o) const { return !(*this == o); }
};

enum class MessageType {
  kPreVote,      // "would you vote for me at term+1?" — does not change anyone's term
  kPreVoteResp,  //
  kVote,         // RequestVote (§5.2)
  kVoteResp,     //
  kAppend,       // AppendEntries (§5.3); with no entries it is the heartbeat
  kAppendResp,   //
  kSnapshot,     // InstallSnapshot (§7): the leader no longer has the entries a follower needs
};

const char* message_type_name(MessageType type);

// One struct for every message type (as etcd's raftpb.Message); fields unused by a type stay zero.
//   kPreVote/kVote:  term = proposed term, index/log_term = candidate's last log index/term.
//   kAppend:         index/log_term = prev log index/term, entries, commit = leader commit.
//   kAppendResp:     index = last index now matching (success) or the rejected prev index;
//                    reject_hint/log_term = fast-backoff hint (highest index the follower might
//                    match, and its term there).
//   k*Resp votes:    reject tells whether the vote was granted.
//   kSnapshot:       snapshot; answered with kAppendResp (index = snapshot index, or the
//                    follower's commit index when that already covers the snapshot).
struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  uint64_t term = 0;
  uint64_t log_term = 0;
  uint64_t index = 0;
  std::vector<Entry> entries;
  uint64_t commit = 0;
  bool reject = false;
  uint64_t reject_hint = 0;
  Snapshot snapshot;  // kSnapshot only
};

}  // namespace chorus::raft
