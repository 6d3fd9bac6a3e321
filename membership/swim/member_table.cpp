#include "membership/swim/member_table.h"

#include "core/assert.h"

namespace chorus::swim {

MemberTable::MemberTable(Member self, uint64_t incarnation, size_t max_members)
    : self_id_(self.id), max_members_(max_members) {
  CHORUS_ASSERT(valid_member(self) && max_members_ >= 1);
  members_[self_id_] = MemberInfo{std::move(self), State::kAlive, incarnation, 0};
}

const MemberInfo* MemberTable::find(const std::string& id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

size_t MemberTable::count(State state) const {
  size_t n = 0;
  for (const auto& [id, info] : members_) n += info.state == state ? 1 : 0;
  return n;
}

std::vector<Change> MemberTable::take_changes() {
  std::vector<Change> out;
  out.swap(changes_);
  return out;
}

MemberTable::Outcome MemberTable::apply(const Update& claim, uint64_t now_ms) {
  if (claim.member.id == self_id_) return apply_to_self(claim);
  auto it = members_.find(claim.member.id);
  if (it == members_.end()) {
    return claim.state == State::kAlive ? add(claim, now_ms) : Outcome::kIgnored;
  }
  MemberInfo& info = it->second;
  if (claim.incarnation < info.incarnation) return Outcome::kIgnored;
  switch (claim.state) {
    case State::kAlive:
      if (claim.incarnation == info.incarnation) return Outcome::kIgnored;
      return set(info, claim, now_ms);
    case State::kSuspect:
      if (info.state == State::kDead) return Outcome::kIgnored;
      if (info.state == State::kSuspect && claim.incarnation == info.incarnation) {
        return Outcome::kIgnored;
      }
      return set(info, claim, now_ms);
    case State::kDead:
      if (info.state == State::kDead) return Outcome::kIgnored;
      return set(info, claim, now_ms);
  }
  return Outcome::kIgnored;
}

MemberTable::Outcome MemberTable::apply_to_self(const Update& claim) {
  MemberInfo& me = members_.at(self_id_);
  const bool refute = claim.state == State::kAlive ? claim.incarnation > me.incarnation
                                                   : claim.incarnation >= me.incarnation;
  if (!refute) return Outcome::kIgnored;
  me.incarnation = claim.incarnation + 1;
  ++version_;
  return Outcome::kRefuted;
}

MemberTable::Outcome MemberTable::add(const Update& claim, uint64_t now_ms) {
  if (members_.size() >= max_members_ && !evict_longest_dead()) return Outcome::kRejected;
  members_[claim.member.id] = MemberInfo{claim.member, claim.state, claim.incarnation, now_ms};
  changes_.push_back(Change{claim.member, std::nullopt, claim.state, claim.incarnation});
  ++version_;
  return Outcome::kApplied;
}

MemberTable::Outcome MemberTable::set(MemberInfo& info, const Update& claim, uint64_t now_ms) {
  const State old_state = info.state;
  // Only the member itself raises its incarnation, so only an alive claim carries new addresses
  // (a restarted node may come back with another http address); other claims echo old records.
  const bool readdressed =
      claim.state == State::kAlive && !same_addresses(info.member, claim.member);
  if (readdressed) info.member = claim.member;
  info.incarnation = claim.incarnation;
  if (info.state != claim.state) {
    info.state = claim.state;
    info.state_since_ms = now_ms;
  }
  if (old_state != claim.state || readdressed) {
    changes_.push_back(Change{info.member, old_state, claim.state, claim.incarnation});
  }
  ++version_;
  return Outcome::kApplied;
}

bool MemberTable::evict_longest_dead() {
  auto victim = members_.end();
  for (auto it = members_.begin(); it != members_.end(); ++it) {
    if (it->second.state != State::kDead) continue;
    if (victim == members_.end() || it->second.state_since_ms < victim->second.state_since_ms) {
      victim = it;
    }
  }
  if (victim == members_.end()) return false;
  members_.erase(victim);
  ++version_;
  return true;
}

}  // namespace chorus::swim
