// Raft wire-level value types: log entries, the durable hard state, and the messages peers
// exchange.
//
// These are plain values with no behaviour; the Raft core (raft.h) produces and consumes them and
// the caller moves them over whatever transport it has. Encoding them for the network or the WAL is
// the caller's job (not part of this session).
//
// Thread-safety: values; share by copy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chorus::raft {

using NodeId = uint64_t;
// Node ids start at 1; 0 means "nobody" (no vote cast, no known leader).
constexpr NodeId kNoNode = 0;

struct Entry {
  uint64_t term = 0;
  uint64_t index = 0;
  std::string data;  // opaque command; empty for the no-op a new leader appends

  bool operator==(const Entry& o) const {
    return term == o.term && index == o.index && data == o.data;
  }
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
};

const char* message_type_name(MessageType type);

// One struct for every message type (as etcd's raftpb.Message); fields unused by a type stay zero.
//   kPreVote/kVote:  term = proposed term, index/log_term = candidate's last log index/term.
//   kAppend:         index/log_term = prev log index/term, entries, commit = leader commit.
//   kAppendResp:     index = last index now matching (success) or the rejected prev index;
//                    reject_hint/log_term = fast-backoff hint (highest index the follower might
//                    match, and its term there).
//   k*Resp votes:    reject tells whether the vote was granted.
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
};

}  // namespace chorus::raft
