#include "node/node_service.h"

#include "ring/partitioner.h"

namespace chorus {

NodeService::NodeService(std::string self_id, Coordinator* coordinator, Membership* membership,
                         Store* store, const PartitionStreamer* streamer,
                         AntiEntropyService* repair, int replicas)
    : self_id_(std::move(self_id)),
      coordinator_(coordinator),
      membership_(membership),
      store_(store),
      streamer_(streamer),
      repair_(repair),
      replicas_(replicas) {}

namespace {

nlohmann::json repair_json(const RepairStatus& status) {
  nlohmann::json j;
  j["closed_through"] =
      status.closed_through ? nlohmann::json(*status.closed_through) : nlohmann::json(nullptr);
  size_t verified_everywhere = 0;
  uint64_t dirty = 0;
  uint64_t unverified = 0;
  nlohmann::json partitions = nlohmann::json::array();
  for (const auto& p : status.partitions) {
    if (p.dirty == 0 && p.unverified == 0) ++verified_everywhere;
    dirty += p.dirty;
    unverified += p.unverified;
    partitions.push_back(
        {{"partition", p.partition},
         {"verified_through",
          p.verified_through ? nlohmann::json(*p.verified_through) : nlohmann::json(nullptr)},
         {"dirty", p.dirty},
         {"unverified", p.unverified},
         {"initiator", p.initiator}});
  }
  j["partitions_replicated"] = status.partitions.size();
  j["partitions_verified"] = verified_everywhere;
  j["epochs_dirty"] = dirty;
  j["epochs_unverified"] = unverified;
  j["partitions"] = std::move(partitions);
  nlohmann::json in_flight = nlohmann::json::array();
  for (const auto& f : status.in_flight) {
    in_flight.push_back(
        {{"partition", f.partition},
         {"sweep", f.sweep},
         {"epoch", f.epoch == kAllEpochs ? nlohmann::json("all") : nlohmann::json(f.epoch)},
         {"peer", f.peer},
         {"phase", f.phase},
         {"running_ms", f.running_ms}});
  }
  j["in_flight"] = std::move(in_flight);
  j["queued"] = status.queued;
  j["exchanges"] = status.exchanges;
  j["keys_repaired"] = status.keys_repaired;
  j["converge_ms"] = status.converge_ms;
  return j;
}

}  // namespace

int NodeService::resolve(const Consistency& c, int default_count) const {
  // kDefault maps to 0 so the coordinator applies its own configured default.
  return c.kind == Consistency::Kind::kDefault ? 0 : c.resolve(replicas_, default_count);
}

void NodeService::write(WriteArgs args, std::function<void(WriteOutcome)> done) {
  WriteRequest request;
  request.key = std::move(args.key);
  request.value = std::move(args.value);
  request.tombstone = args.tombstone;
  request.ttl_s = args.ttl_s;
  request.sync = args.sync;
  request.w = resolve(args.w, coordinator_->options().write_quorum_default);
  coordinator_->write(std::move(request), [done = std::move(done)](WriteResponse response) {
    WriteOutcome outcome;
    outcome.status = std::move(response.status);
    outcome.acks = response.acks;
    outcome.required = response.required;
    outcome.ts = response.ts;
    outcome.node = std::move(response.node);
    done(std::move(outcome));
  });
}

void NodeService::read(ReadArgs args, std::function<void(ReadOutcome)> done) {
  ReadRequest request;
  request.key = std::move(args.key);
  request.r = resolve(args.r, coordinator_->options().read_quorum_default);
  coordinator_->read(std::move(request), [done = std::move(done)](ReadResponse response) {
    ReadOutcome outcome;
    outcome.status = std::move(response.status);
    outcome.replies = response.replies;
    outcome.required = response.required;
    if (response.record) outcome.record = std::move(*response.record);
    done(std::move(outcome));
  });
}

nlohmann::json NodeService::cluster_status() {
  auto view = membership_->view();
  nlohmann::json j;
  j["node"] = self_id_;
  j["replicas"] = replicas_;
  j["raft"] = {{"role", view->raft.role},
               {"term", view->raft.term},
               {"leader", view->raft.leader.empty() ? nlohmann::json(nullptr)
                                                    : nlohmann::json(view->raft.leader)},
               {"commit_index", view->raft.commit_index},
               {"applied_index", view->raft.applied_index}};
  j["members"] = nlohmann::json::array();
  j["transition"] = nullptr;
  if (!view->formed()) {
    j["epoch"] = 0;
    j["partitions"] = 0;
    j["formed"] = false;
    return j;
  }
  const Ring& ring = *view->ring;
  const ClusterMetadata* md = view->metadata.get();
  j["epoch"] = ring.epoch();
  j["partitions"] = ring.partitions();
  j["formed"] = true;
  for (size_t i = 0; i < ring.members().size(); ++i) {
    const Member& m = ring.members()[i];
    const MemberInfo* info = md ? md->find(m.id) : nullptr;
    const char* gossip = member_state_name(view->states[i]);
    // DESIGN.md §8: joining/leaving while data moves, otherwise what gossip says.
    const bool moving =
        info && info->status != MemberStatus::kActive && view->states[i] == MemberState::kAlive;
    j["members"].push_back({{"id", m.id},
                            {"peer", m.peer_address},
                            {"http", m.http_address},
                            {"state", moving ? member_status_name(info->status) : gossip},
                            {"gossip", gossip},
                            {"status", info ? member_status_name(info->status) : "active"},
                            {"partitions", ring.partitions_replicated_by(i).size()},
                            {"primary_partitions", ring.partitions_led_by(i).size()}});
  }
  if (md && md->in_transition()) {
    j["transition"] = {{"id", md->transition_id()},
                       {"target", md->target_members()},
                       {"partitions_pending", md->partitions_pending()},
                       {"partitions_total", md->partitions()}};
  }
  if (streamer_ != nullptr) {
    const StreamProgress progress = streamer_->progress();
    j["streaming"] = {{"transition", progress.transition_id},
                      {"partitions_assigned", progress.partitions_assigned},
                      {"partitions_done", progress.partitions_done},
                      {"current_partition", progress.current_partition},
                      {"bytes", progress.bytes},
                      {"records", progress.records},
                      {"streaming_ms", progress.streaming_ms}};
  }
  if (repair_ != nullptr) j["repair"] = repair_json(repair_->status());
  return j;
}

Status NodeService::repair_now() {
  if (repair_ == nullptr) return Status::Unavailable("anti-entropy is not running on this node");
  repair_->repair_now();
  return Status::OK();
}

nlohmann::json NodeService::repair_status() {
  if (repair_ == nullptr) return {{"enabled", false}};
  nlohmann::json j = repair_json(repair_->status());
  j["enabled"] = true;
  return j;
}

void NodeService::change_membership(MembershipChange change, std::function<void(Status)> done) {
  switch (change.kind) {
    case MembershipChange::Kind::kJoin:
      return membership_->submit(MetaCommand::add_node(Member{change.id, change.peer, change.http}),
                                 std::move(done));
    case MembershipChange::Kind::kDecommission:
      return membership_->submit(MetaCommand::decommission(change.id), std::move(done));
    case MembershipChange::Kind::kRemove:
      return membership_->submit(MetaCommand::remove_node(change.id), std::move(done));
  }
  done(Status::InvalidArgument("unknown membership change"));
}

bool NodeService::ready() {
  auto view = membership_->view();
  if (!view->formed()) return false;
  if (view->metadata == nullptr) return true;
  // Caught up with the metadata log: a leader is known and everything it says is committed is
  // applied here. A node restarted from its WAL is not ready until then, so it does not
  // coordinate with a ring that may have moved on while it was down.
  //
  // Once caught up, it stays ready: reads and writes are leaderless, so a metadata election (a
  // leader decommissioned or restarted) must not take every node out of a load balancer at once.
  // Seen in the operator's end-to-end test: without the latch, all pods failed readiness
  // together during scale-down and clients found no endpoint.
  if (caught_up_.load(std::memory_order_relaxed)) return true;
  const bool caught_up =
      !view->raft.leader.empty() && view->raft.applied_index >= view->raft.commit_index;
  if (caught_up) caught_up_.store(true, std::memory_order_relaxed);
  return caught_up;
}

nlohmann::json NodeService::debug_owners(const std::string& key) {
  auto view = membership_->view();
  nlohmann::json j;
  j["key"] = key;
  if (!view->formed()) {
    j["error"] = "ring not formed";
    return j;
  }
  const uint32_t partition = partition_of(key, view->ring->partitions());
  j["partition"] = partition;
  j["epoch"] = view->ring->epoch();
  j["owners"] = nlohmann::json::array();
  for (uint32_t index : view->ring->owners(partition)) {
    j["owners"].push_back({{"id", view->ring->members()[index].id},
                           {"state", member_state_name(view->states[index])}});
  }
  return j;
}

Result<Record> NodeService::debug_local(const std::string& key) {
  Record record;
  Status st = store_->get(key, &record);
  if (!st.ok()) return st;
  return record;
}

}  // namespace chorus
