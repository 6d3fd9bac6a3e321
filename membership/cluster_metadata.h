// ClusterMetadata: the replicated state machine of the Raft metadata log (DESIGN.md §6).
//
// It holds who is in the cluster and in what state, the partition count P, the replica count N
// and the epoch, and the one membership transition in progress. Every node applies the same
// committed commands in the same order, so apply() is deterministic: a command that does not fit
// the current state (a duplicate join, a stream report for a finished transition) is ignored the
// same way everywhere and says why, instead of failing on some nodes only.
//
// Transitions. The ring members are the members that own data now. Members that joined, and
// members that are leaving, make the target member set (non-leaving members) differ from them;
// the state machine then starts a transition to that target: for each partition it records which
// target owners do not hold it yet (they must stream it). As they report StreamDone the partition
// is handed over (reads move to the new owners); when every partition is handed over the
// transition finalizes: the target becomes the ring, joining members become active, and leaving
// members become removable (the leader then removes them from the Raft configuration). A join
// or decommission arriving during a transition waits for the next one. Every change advances the
// epoch, as does AdvanceEpoch (the leader's timer).
//
// Encoding: commands and snapshots are versioned JSON (small, rare, and readable in a debugger).
// Thread-safety: a value type; the driver applies commands on one strand and publishes copies.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ring/ring.h"

namespace chorus {

enum class MemberStatus { kJoining, kActive, kLeaving };
const char* member_status_name(MemberStatus status);

struct MemberInfo {
  Member member;
  uint64_t raft_id = 0;
  MemberStatus status = MemberStatus::kJoining;
  // Removed by force (a dead node): it is never a streaming source and leaves with no handover.
  bool forced = false;
};

// The Raft node id of a member: a stable hash of its id (never 0), so every node derives it alone.
uint64_t raft_id_of(std::string_view member_id);

struct MetaCommand {
  enum class Type { kAddNode, kDecommission, kRemoveNode, kAdvanceEpoch, kStreamDone };
  Type type = Type::kAdvanceEpoch;
  Member member;               // kAddNode
  std::string id;              // kDecommission, kRemoveNode, kStreamDone (the node that streamed)
  uint64_t transition_id = 0;  // kStreamDone
  uint32_t partition = 0;      // kStreamDone

  static MetaCommand add_node(Member member);
  static MetaCommand decommission(std::string id);
  static MetaCommand remove_node(std::string id);
  static MetaCommand advance_epoch();
  static MetaCommand stream_done(std::string id, uint64_t transition_id, uint32_t partition);
};

std::string encode_command(const MetaCommand& command);
// Corruption for malformed input (an entry we cannot read must not be skipped silently).
Result<MetaCommand> decode_command(std::string_view data);

class ClusterMetadata {
 public:
  struct Applied {
    bool changed = false;
    std::string what;  // for the log: what happened, or why the command was ignored
  };

  ClusterMetadata() = default;
  // A new cluster: these members, all active and owning data, at epoch 1. InvalidArgument when the
  // ring cannot be built from them (see Ring::build).
  static Result<ClusterMetadata> create(std::vector<Member> members, uint32_t partitions,
                                        int replicas);

  Applied apply(const MetaCommand& command);

  std::string encode() const;
  static Result<ClusterMetadata> decode(std::string_view data);

  bool empty() const { return members_.empty(); }
  uint64_t epoch() const { return epoch_; }
  uint32_t partitions() const { return partitions_; }
  int replicas() const { return replicas_; }
  const std::vector<MemberInfo>& members() const { return members_; }  // sorted by id
  const MemberInfo* find(std::string_view id) const;
  const MemberInfo* find_by_raft_id(uint64_t raft_id) const;
  const std::vector<std::string>& ring_members() const { return ring_members_; }

  // The epoch at which the ring (current or target members) last changed: a transition's start
  // or end. Replicas refuse client writes coordinated with an older view (ReplicaWrite).
  uint64_t ring_epoch() const { return ring_epoch_; }
  bool in_transition() const { return transition_id_ != 0; }
  uint64_t transition_id() const { return transition_id_; }
  const std::vector<std::string>& target_members() const { return target_; }
  // Members that still have to stream `partition` in the current transition (empty: handed over).
  const std::set<std::string>& pending_streams(uint32_t partition) const;
  size_t partitions_pending() const;
  // Leaving members whose data has moved (no longer ring members): ready for RemoveNode.
  std::vector<std::string> removable() const;

  // The ring to publish for this state (in transition: Ring::build_transition). Null when empty.
  Result<std::shared_ptr<const Ring>> build_ring() const;

 private:
  MemberInfo* find_mutable(std::string_view id);
  std::vector<Member> members_with(const std::vector<std::string>& ids) const;
  std::vector<std::string> wanted_members() const;
  void maybe_start_transition(Applied* applied);
  void maybe_finalize(Applied* applied);
  Applied apply_add(const MetaCommand& c);
  Applied apply_decommission(const MetaCommand& c);
  Applied apply_remove(const MetaCommand& c);
  Applied apply_stream_done(const MetaCommand& c);

  uint64_t epoch_ = 0;
  uint32_t partitions_ = 0;
  int replicas_ = 0;
  std::vector<MemberInfo> members_;
  std::vector<std::string> ring_members_;  // sorted ids
  uint64_t ring_epoch_ = 0;
  uint64_t transition_id_ = 0;                  // the epoch it started at; 0 = none
  std::vector<std::string> target_;             // sorted ids
  std::vector<std::set<std::string>> pending_;  // [partition] -> members still to stream it
};

}  // namespace chorus
