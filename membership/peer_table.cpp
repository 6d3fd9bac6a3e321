#include "membership/peer_table.h"

#include <algorithm>

namespace chorus {

PeerTable::PeerTable(Member self, size_t bootstrap_expect, uint64_t failure_timeout_ms)
    : self_(std::move(self)),
      bootstrap_expect_(bootstrap_expect),
      failure_timeout_ms_(failure_timeout_ms) {}

void PeerTable::restore(std::vector<Member> members, uint64_t now_ms) {
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.id < b.id; });
  for (const Member& m : members) {
    if (m.id == self_.id) continue;
    Peer& peer = peers_[m.id];
    peer.member = m;
    peer.last_heard_ms = now_ms;
    peer.heard = true;
    peer.alive = true;
  }
  ring_members_ = std::move(members);
  formed_ = true;
}

bool PeerTable::learn(const Member& member) {
  if (member.id.empty() || member.id == self_.id) return false;
  auto it = peers_.find(member.id);
  if (it == peers_.end()) {
    peers_[member.id].member = member;
    return true;
  }
  Member& known = it->second.member;
  if (formed_ ||
      (known.peer_address == member.peer_address && known.http_address == member.http_address)) {
    return false;
  }
  known = member;
  return true;
}

void PeerTable::heard_from(const std::string& id, uint64_t now_ms) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  it->second.last_heard_ms = std::max(it->second.last_heard_ms, now_ms);
  it->second.heard = true;
}

std::optional<std::vector<Member>> PeerTable::try_form(uint64_t now_ms) {
  if (formed_ || peers_.size() + 1 < bootstrap_expect_) return std::nullopt;
  ring_members_ = known();
  formed_ = true;
  for (auto& [id, peer] : peers_) {
    peer.last_heard_ms = std::max(peer.last_heard_ms, now_ms);
    peer.heard = true;
    peer.alive = true;
  }
  return ring_members_;
}

std::vector<PeerTable::Transition> PeerTable::tick(uint64_t now_ms) {
  std::vector<Transition> out;
  for (auto& [id, peer] : peers_) {
    const bool alive = peer.heard && now_ms <= peer.last_heard_ms + failure_timeout_ms_;
    if (alive != peer.alive) {
      peer.alive = alive;
      out.push_back({id, alive});
    }
  }
  return out;
}

std::vector<Member> PeerTable::known() const {
  std::vector<Member> all{self_};
  for (const auto& [id, peer] : peers_) all.push_back(peer.member);
  std::sort(all.begin(), all.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
  return all;
}

bool PeerTable::alive(const std::string& id) const {
  if (id == self_.id) return true;
  auto it = peers_.find(id);
  return it != peers_.end() && it->second.alive;
}

}  // namespace chorus
