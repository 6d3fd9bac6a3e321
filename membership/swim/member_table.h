// MemberTable: one node's view of the cluster - every member it knows, with its state (alive,
// suspect, dead) and incarnation - and the SWIM rules deciding which claims win (SWIM §4.2,
// memberlist's aliveNode/suspectNode/deadNode).
//
// The incarnation is a per-member counter only that member raises, to refute a suspicion. For a
// member other than self, a claim about it wins when:
//   alive   incarnation > ours                          (anything older is stale)
//   suspect incarnation >= ours and we hold it alive, or > ours and we hold it suspect
//   dead    incarnation >= ours and we do not hold it dead
// so dead beats suspect beats alive at one incarnation, and only a newer alive (the member itself
// refuting, or restarting and learning it was declared dead) brings a suspect or dead member back.
// Suspect and dead claims about unknown members are ignored (nothing to update, and a stale echo
// must not re-add a forgotten member); alive claims add the member.
// Claims about self: a suspect or dead claim at or above our incarnation, or an alive claim above
// it (a record of an earlier life of this node), is refuted by raising our incarnation above the
// claim; the caller then disseminates alive(self).
//
// The table holds at most max_members members, self included. A new member arriving at a full table
// replaces the member dead the longest; with no dead member it is rejected.
//
// Every change of state, or of a member's addresses, is recorded as a Change for take_changes().
// Thread-safety: none; owned by one Swim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "membership/swim/limits.h"
#include "membership/swim/messages.h"

namespace chorus::swim {

struct MemberInfo {
  Member member;
  State state = State::kAlive;
  uint64_t incarnation = 0;
  uint64_t state_since_ms = 0;  // this node's time when the member entered its state
};

// A member entered a new state (or changed addresses) in this node's view.
struct Change {
  Member member;
  std::optional<State> old_state;  // nullopt: the member was not known before
  State new_state = State::kAlive;
  uint64_t incarnation = 0;
};

class MemberTable {
 public:
  enum class Outcome {
    kIgnored,   // stale or redundant: nothing changed
    kApplied,   // the table changed; the claim is news worth disseminating
    kRefuted,   // a claim about self was refuted: self's incarnation went up
    kRejected,  // a new member, but the table is full of members that are not dead
  };

  // self must satisfy valid_member; max_members >= 1.
  MemberTable(Member self, uint64_t incarnation, size_t max_members = kMaxMembers);

  Outcome apply(const Update& claim, uint64_t now_ms);

  const MemberInfo& self() const { return members_.at(self_id_); }
  const std::string& self_id() const { return self_id_; }
  const MemberInfo* find(const std::string& id) const;
  // Every member, self included, by id.
  const std::map<std::string, MemberInfo>& all() const { return members_; }
  size_t size() const { return members_.size(); }
  size_t count(State state) const;
  // Goes up on every change, self's incarnation included: lets a driver republish only on change.
  uint64_t version() const { return version_; }
  std::vector<Change> take_changes();

 private:
  Outcome apply_to_self(const Update& claim);
  Outcome add(const Update& claim, uint64_t now_ms);
  Outcome set(MemberInfo& info, const Update& claim, uint64_t now_ms);
  bool evict_longest_dead();

  std::string self_id_;
  size_t max_members_;
  std::map<std::string, MemberInfo> members_;
  std::vector<Change> changes_;
  uint64_t version_ = 0;
};

}  // namespace chorus::swim
