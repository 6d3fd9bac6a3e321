// Membership: who is in the cluster (the ring) and who is alive right now.
//
// The replication layer reads an immutable ClusterView snapshot; a new snapshot is published on
// every change (ring formed, a member's liveness flipped), so readers never lock. The ring decides
// ownership; liveness only decides whom to ask (a dead owner is replaced by a stand-in holding a
// hint). This interface is what issue-3's SWIM + Raft membership will implement too.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "membership/cluster_metadata.h"
#include "ring/ring.h"

namespace chorus {

enum class MemberState { kAlive, kSuspect, kDead };
const char* member_state_name(MemberState state);

struct RaftStatus {
  std::string role = "none";  // follower, pre-candidate, candidate, leader; none before joining
  uint64_t term = 0;
  std::string leader;  // member id; empty when unknown
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
};

struct ClusterView {
  std::shared_ptr<const Ring> ring;  // null until the ring is formed
  std::vector<MemberState> states;   // indexed like ring->members()
  // The metadata the ring was built from (members' join/leave status, the transition in
  // progress); null for membership without a metadata log.
  std::shared_ptr<const ClusterMetadata> metadata;
  RaftStatus raft;

  bool formed() const { return ring != nullptr; }
  bool alive(size_t index) const {
    return index < states.size() && states[index] == MemberState::kAlive;
  }
};

class Membership {
 public:
  virtual ~Membership() = default;
  // The latest snapshot; never null (an unformed view has a null ring).
  virtual std::shared_ptr<const ClusterView> view() const = 0;
  // Called (on an io thread) whenever a member is seen alive after having been dead; used to
  // deliver hints. Register before start.
  virtual void on_member_alive(std::function<void(const std::string& id)> listener) = 0;
  // Submits a metadata change (decommission, remove, stream report) to the Raft leader, from any
  // thread. `done` (on an io thread) gets OK once the leader accepted it into its log (it applies
  // when committed), InvalidArgument when the change makes no sense now, Unavailable when there
  // is no leader, Busy when another membership change is being committed.
  virtual void submit(MetaCommand command, std::function<void(Status)> done) = 0;
};

}  // namespace chorus
