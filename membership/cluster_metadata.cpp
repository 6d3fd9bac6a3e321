#include "membership/cluster_metadata.h"

#include <algorithm>

#include <xxhash.h>
#include <nlohmann/json.hpp>

namespace chorus {

namespace {
constexpr int kEncodingVersion = 1;

const char* command_name(MetaCommand::Type type) {
  switch (type) {
    case MetaCommand::Type::kAddNode:
      return "add_node";
    case MetaCommand::Type::kDecommission:
      return "decommission";
    case MetaCommand::Type::kRemoveNode:
      return "remove_node";
    case MetaCommand::Type::kAdvanceEpoch:
      return "advance_epoch";
    case MetaCommand::Type::kStreamDone:
      return "stream_done";
  }
  return "?";
}

std::optional<MetaCommand::Type> command_type(const std::string& name) {
  for (auto type : {MetaCommand::Type::kAddNode, MetaCommand::Type::kDecommission,
                    MetaCommand::Type::kRemoveNode, MetaCommand::Type::kAdvanceEpoch,
                    MetaCommand::Type::kStreamDone}) {
    if (name == command_name(type)) return type;
  }
  return std::nullopt;
}

std::optional<MemberStatus> status_named(const std::string& name) {
  for (auto s : {MemberStatus::kJoining, MemberStatus::kActive, MemberStatus::kLeaving}) {
    if (name == member_status_name(s)) return s;
  }
  return std::nullopt;
}

nlohmann::json member_json(const Member& m) {
  return {{"id", m.id}, {"peer", m.peer_address}, {"http", m.http_address}};
}

Member member_from(const nlohmann::json& j) {
  return Member{j.at("id").get<std::string>(), j.at("peer").get<std::string>(),
                j.at("http").get<std::string>()};
}

bool contains(const std::vector<std::string>& sorted, const std::string& id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}
}  // namespace

const char* member_status_name(MemberStatus status) {
  switch (status) {
    case MemberStatus::kJoining:
      return "joining";
    case MemberStatus::kActive:
      return "active";
    case MemberStatus::kLeaving:
      return "leaving";
  }
  return "?";
}

uint64_t raft_id_of(std::string_view member_id) {
  const uint64_t h = XXH3_64bits(member_id.data(), member_id.size());
  return h == 0 ? 1 : h;
}

// ---- commands -----------------------------------------------------------------------------------

MetaCommand MetaCommand::add_node(Member member) {
  MetaCommand c;
  c.type = Type::kAddNode;
  c.id = member.id;
  c.member = std::move(member);
  return c;
}

MetaCommand MetaCommand::decommission(std::string id) {
  MetaCommand c;
  c.type = Type::kDecommission;
  c.id = std::move(id);
  return c;
}

MetaCommand MetaCommand::remove_node(std::string id) {
  MetaCommand c;
  c.type = Type::kRemoveNode;
  c.id = std::move(id);
  return c;
}

MetaCommand MetaCommand::advance_epoch() {
  return MetaCommand{};
}

MetaCommand MetaCommand::stream_done(std::string id, uint64_t transition_id, uint32_t partition) {
  MetaCommand c;
  c.type = Type::kStreamDone;
  c.id = std::move(id);
  c.transition_id = transition_id;
  c.partition = partition;
  return c;
}

std::string encode_command(const MetaCommand& c) {
  nlohmann::json j = {{"v", kEncodingVersion}, {"type", command_name(c.type)}};
  switch (c.type) {
    case MetaCommand::Type::kAddNode:
      j["member"] = member_json(c.member);
      break;
    case MetaCommand::Type::kStreamDone:
      j["transition"] = c.transition_id;
      j["partition"] = c.partition;
      j["id"] = c.id;
      break;
    case MetaCommand::Type::kDecommission:
    case MetaCommand::Type::kRemoveNode:
      j["id"] = c.id;
      break;
    case MetaCommand::Type::kAdvanceEpoch:
      break;
  }
  return j.dump();
}

Result<MetaCommand> decode_command(std::string_view data) {
  try {
    const auto j = nlohmann::json::parse(data);
    if (j.at("v").get<int>() != kEncodingVersion) {
      return Status::Corruption("metadata command: unknown version");
    }
    auto type = command_type(j.at("type").get<std::string>());
    if (!type) return Status::Corruption("metadata command: unknown type");
    MetaCommand c;
    c.type = *type;
    if (c.type == MetaCommand::Type::kAddNode) {
      c.member = member_from(j.at("member"));
      c.id = c.member.id;
    } else if (c.type != MetaCommand::Type::kAdvanceEpoch) {
      c.id = j.at("id").get<std::string>();
    }
    if (c.type == MetaCommand::Type::kStreamDone) {
      c.transition_id = j.at("transition").get<uint64_t>();
      c.partition = j.at("partition").get<uint32_t>();
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("metadata command: ") + e.what());
  }
}

// ---- state machine ------------------------------------------------------------------------------

Result<ClusterMetadata> ClusterMetadata::create(std::vector<Member> members, uint32_t partitions,
                                                int replicas) {
  auto ring = Ring::build(members, partitions, replicas, 1);
  if (!ring.ok()) return ring.status();
  ClusterMetadata m;
  m.epoch_ = 1;
  m.ring_epoch_ = 1;
  m.partitions_ = partitions;
  m.replicas_ = replicas;
  for (const Member& member : (*ring)->members()) {
    m.members_.push_back(MemberInfo{member, raft_id_of(member.id), MemberStatus::kActive, false});
    m.ring_members_.push_back(member.id);
  }
  m.pending_.assign(partitions, {});
  return m;
}

const MemberInfo* ClusterMetadata::find(std::string_view id) const {
  auto it =
      std::lower_bound(members_.begin(), members_.end(), id,
                       [](const MemberInfo& m, std::string_view key) { return m.member.id < key; });
  return it != members_.end() && it->member.id == id ? &*it : nullptr;
}

MemberInfo* ClusterMetadata::find_mutable(std::string_view id) {
  return const_cast<MemberInfo*>(static_cast<const ClusterMetadata*>(this)->find(id));
}

const MemberInfo* ClusterMetadata::find_by_raft_id(uint64_t raft_id) const {
  for (const MemberInfo& m : members_) {
    if (m.raft_id == raft_id) return &m;
  }
  return nullptr;
}

const std::set<std::string>& ClusterMetadata::pending_streams(uint32_t partition) const {
  static const std::set<std::string> kNone;
  return partition < pending_.size() ? pending_[partition] : kNone;
}

size_t ClusterMetadata::partitions_pending() const {
  return static_cast<size_t>(
      std::count_if(pending_.begin(), pending_.end(), [](const auto& s) { return !s.empty(); }));
}

std::vector<std::string> ClusterMetadata::removable() const {
  std::vector<std::string> out;
  for (const MemberInfo& m : members_) {
    if (m.status == MemberStatus::kLeaving && !contains(ring_members_, m.member.id) &&
        !(in_transition() && contains(target_, m.member.id))) {
      out.push_back(m.member.id);
    }
  }
  return out;
}

std::vector<std::string> ClusterMetadata::wanted_members() const {
  std::vector<std::string> out;
  for (const MemberInfo& m : members_) {
    if (m.status != MemberStatus::kLeaving) out.push_back(m.member.id);
  }
  return out;  // members_ is sorted, so this is too
}

std::vector<Member> ClusterMetadata::members_with(const std::vector<std::string>& ids) const {
  std::vector<Member> out;
  for (const std::string& id : ids) {
    if (const MemberInfo* m = find(id)) out.push_back(m->member);
  }
  return out;
}

ClusterMetadata::Applied ClusterMetadata::apply(const MetaCommand& c) {
  Applied applied;
  switch (c.type) {
    case MetaCommand::Type::kAddNode:
      applied = apply_add(c);
      break;
    case MetaCommand::Type::kDecommission:
      applied = apply_decommission(c);
      break;
    case MetaCommand::Type::kRemoveNode:
      applied = apply_remove(c);
      break;
    case MetaCommand::Type::kStreamDone:
      return apply_stream_done(c);  // moves no epoch unless the transition finalizes
    case MetaCommand::Type::kAdvanceEpoch:
      applied = {true, "epoch advanced"};
      break;
  }
  if (applied.changed) {
    ++epoch_;
    maybe_start_transition(&applied);
  }
  return applied;
}

ClusterMetadata::Applied ClusterMetadata::apply_add(const MetaCommand& c) {
  if (find(c.member.id) != nullptr) return {false, c.member.id + " is already a member"};
  if (members_.size() >= kRingMembersMax) return {false, "the cluster is at kRingMembersMax"};
  if (c.member.id.empty()) return {false, "a member id is empty"};
  if (find_by_raft_id(raft_id_of(c.member.id)) != nullptr) {
    return {false, c.member.id + " collides with an existing member's raft id"};
  }
  MemberInfo info{c.member, raft_id_of(c.member.id), MemberStatus::kJoining, false};
  auto at =
      std::lower_bound(members_.begin(), members_.end(), c.member.id,
                       [](const MemberInfo& m, const std::string& id) { return m.member.id < id; });
  members_.insert(at, std::move(info));
  return {true, c.member.id + " joined"};
}

ClusterMetadata::Applied ClusterMetadata::apply_decommission(const MetaCommand& c) {
  MemberInfo* m = find_mutable(c.id);
  if (m == nullptr) return {false, c.id + " is not a member"};
  if (m->status == MemberStatus::kLeaving) return {false, c.id + " is already leaving"};
  if (wanted_members().size() <= 1) return {false, "the last member cannot leave"};
  m->status = MemberStatus::kLeaving;
  return {true, c.id + " is leaving"};
}

ClusterMetadata::Applied ClusterMetadata::apply_remove(const MetaCommand& c) {
  MemberInfo* m = find_mutable(c.id);
  if (m == nullptr) return {false, c.id + " is not a member"};
  const bool owns = contains(ring_members_, c.id) || (in_transition() && contains(target_, c.id));
  if (!owns) {
    members_.erase(members_.begin() + (m - members_.data()));
    return {true, c.id + " removed"};
  }
  if (m->status != MemberStatus::kLeaving && wanted_members().size() <= 1) {
    return {false, "the last member cannot be removed"};
  }
  // It still owns data: its partitions move to the others first (streamed from the surviving
  // replicas, never from it), then it is removable like a decommissioned member.
  m->status = MemberStatus::kLeaving;
  m->forced = true;
  Applied applied{true, c.id + " removed by force; its partitions move to the other members"};
  // A new owner removed mid-transition will never report: stop waiting for it. Its partitions
  // finish the transition (read from the other new owners) and the next transition moves them.
  for (auto& pending : pending_) pending.erase(c.id);
  maybe_finalize(&applied);
  return applied;
}

ClusterMetadata::Applied ClusterMetadata::apply_stream_done(const MetaCommand& c) {
  if (c.transition_id != transition_id_ || transition_id_ == 0) {
    return {false, "stream report for a transition that is not current"};
  }
  if (c.partition >= pending_.size() || pending_[c.partition].erase(c.id) == 0) {
    return {false, "stream report for nothing pending"};
  }
  Applied applied{true, c.id + " has partition " + std::to_string(c.partition)};
  maybe_finalize(&applied);
  return applied;
}

void ClusterMetadata::maybe_start_transition(Applied* applied) {
  if (in_transition()) return;
  std::vector<std::string> wanted = wanted_members();
  if (wanted.empty() || wanted == ring_members_) return;
  auto before = Ring::build(members_with(ring_members_), partitions_, replicas_, epoch_);
  auto after = Ring::build(members_with(wanted), partitions_, replicas_, epoch_);
  if (!before.ok() || !after.ok()) {
    applied->what += "; no transition: " + (before.ok() ? after : before).status().to_string();
    return;
  }
  transition_id_ = epoch_;
  ring_epoch_ = epoch_;
  target_ = std::move(wanted);
  pending_.assign(partitions_, {});
  for (uint32_t p = 0; p < partitions_; ++p) {
    std::set<std::string> old_ids;
    for (uint32_t m : (*before)->owners(p)) old_ids.insert((*before)->members()[m].id);
    for (uint32_t m : (*after)->owners(p)) {
      const std::string& id = (*after)->members()[m].id;
      if (old_ids.count(id) == 0) pending_[p].insert(id);
    }
  }
  applied->what += "; transition " + std::to_string(transition_id_) +
                   " started: " + std::to_string(partitions_pending()) + " partitions to move";
  maybe_finalize(applied);
}

void ClusterMetadata::maybe_finalize(Applied* applied) {
  if (!in_transition() || partitions_pending() != 0) return;
  ring_members_ = target_;
  for (MemberInfo& m : members_) {
    if (m.status == MemberStatus::kJoining && contains(ring_members_, m.member.id)) {
      m.status = MemberStatus::kActive;
    }
  }
  applied->what += "; transition " + std::to_string(transition_id_) + " finished";
  transition_id_ = 0;
  target_.clear();
  ++epoch_;
  ring_epoch_ = epoch_;
  maybe_start_transition(applied);  // members that arrived meanwhile
}

Result<std::shared_ptr<const Ring>> ClusterMetadata::build_ring() const {
  if (ring_members_.empty()) return std::shared_ptr<const Ring>();
  if (!in_transition()) {
    return Ring::build(members_with(ring_members_), partitions_, replicas_, epoch_);
  }
  std::vector<bool> handed_over(partitions_);
  for (uint32_t p = 0; p < partitions_; ++p) handed_over[p] = pending_[p].empty();
  return Ring::build_transition(members_with(ring_members_), members_with(target_), handed_over,
                                partitions_, replicas_, epoch_);
}

// ---- snapshots ----------------------------------------------------------------------------------

std::string ClusterMetadata::encode() const {
  nlohmann::json members = nlohmann::json::array();
  for (const MemberInfo& m : members_) {
    members.push_back({{"member", member_json(m.member)},
                       {"raft_id", m.raft_id},
                       {"status", member_status_name(m.status)},
                       {"forced", m.forced}});
  }
  nlohmann::json pending = nlohmann::json::object();
  for (uint32_t p = 0; p < pending_.size(); ++p) {
    if (!pending_[p].empty()) pending[std::to_string(p)] = pending_[p];
  }
  return nlohmann::json{{"v", kEncodingVersion},        {"epoch", epoch_},
                        {"partitions", partitions_},    {"replicas", replicas_},
                        {"members", members},           {"ring", ring_members_},
                        {"transition", transition_id_}, {"target", target_},
                        {"pending", pending},           {"ring_epoch", ring_epoch_}}
      .dump();
}

Result<ClusterMetadata> ClusterMetadata::decode(std::string_view data) {
  try {
    const auto j = nlohmann::json::parse(data);
    if (j.at("v").get<int>() != kEncodingVersion) {
      return Status::Corruption("cluster metadata: unknown version");
    }
    ClusterMetadata m;
    m.epoch_ = j.at("epoch").get<uint64_t>();
    m.partitions_ = j.at("partitions").get<uint32_t>();
    m.replicas_ = j.at("replicas").get<int>();
    for (const auto& e : j.at("members")) {
      auto status = status_named(e.at("status").get<std::string>());
      if (!status) return Status::Corruption("cluster metadata: unknown member status");
      m.members_.push_back(MemberInfo{member_from(e.at("member")), e.at("raft_id").get<uint64_t>(),
                                      *status, e.at("forced").get<bool>()});
    }
    m.ring_members_ = j.at("ring").get<std::vector<std::string>>();
    m.transition_id_ = j.at("transition").get<uint64_t>();
    m.ring_epoch_ = j.at("ring_epoch").get<uint64_t>();
    m.target_ = j.at("target").get<std::vector<std::string>>();
    if (!is_valid_partition_count(m.partitions_)) {
      return Status::Corruption("cluster metadata: bad partition count");
    }
    m.pending_.assign(m.partitions_, {});
    for (const auto& [key, ids] : j.at("pending").items()) {
      const uint64_t p = std::stoull(key);
      if (p >= m.partitions_) return Status::Corruption("cluster metadata: bad pending partition");
      m.pending_[p] = ids.get<std::set<std::string>>();
    }
    return m;
  } catch (const std::exception& e) {  // nlohmann::json errors and std::stoull
    return Status::Corruption(std::string("cluster metadata: ") + e.what());
  }
}

}  // namespace chorus
