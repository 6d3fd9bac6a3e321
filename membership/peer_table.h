// PeerTable: the static-membership state machine (no I/O, virtual time).
//
// It learns members (id, addresses) from handshakes, forms the ring member set once
// `bootstrap_expect` members are known (including itself), and tracks liveness: a member is alive
// while it was heard from within `failure_timeout_ms`. The driver feeds in what it hears and calls
// tick(now) to collect liveness transitions.
//
// Static for now (issue 3 replaces it with SWIM + a Raft log): once formed, the member set never
// changes; members learned later are reported but not added.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ring/ring.h"

namespace chorus {

class PeerTable {
 public:
  struct Transition {
    std::string id;
    bool alive;
  };

  PeerTable(Member self, size_t bootstrap_expect, uint64_t failure_timeout_ms);

  // Restores a formed member set (from disk). Members start alive as of now_ms, so a restarted
  // node does not route around peers it has not yet had the chance to hear from.
  void restore(std::vector<Member> members, uint64_t now_ms);

  // Records a member learned from a handshake. Returns true when the table changed. A member whose
  // addresses changed for a known id is updated (node restarted elsewhere) only before formation.
  bool learn(const Member& member);
  void heard_from(const std::string& id, uint64_t now_ms);

  // Forms the ring member set when enough members are known. Returns the set the first time only.
  // Members start alive as of now_ms, as on restore: a member we only heard of through another is
  // presumed up until the failure timeout says otherwise (a failed RPC still leaves a hint).
  std::optional<std::vector<Member>> try_form(uint64_t now_ms);

  // Liveness transitions since the last tick.
  std::vector<Transition> tick(uint64_t now_ms);

  bool formed() const { return formed_; }
  const Member& self() const { return self_; }
  // All known members, sorted by id (includes self).
  std::vector<Member> known() const;
  const std::vector<Member>& ring_members() const { return ring_members_; }
  bool alive(const std::string& id) const;

 private:
  struct Peer {
    Member member;
    uint64_t last_heard_ms = 0;
    bool heard = false;
    bool alive = false;
  };

  Member self_;
  size_t bootstrap_expect_;
  uint64_t failure_timeout_ms_;
  std::map<std::string, Peer> peers_;  // excludes self
  bool formed_ = false;
  std::vector<Member> ring_members_;
};

}  // namespace chorus
