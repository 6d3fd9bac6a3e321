#include "node/node_service.h"

#include "ring/partitioner.h"

namespace chorus {

NodeService::NodeService(std::string self_id, Coordinator* coordinator, Membership* membership,
                         Store* store, int replicas)
    : self_id_(std::move(self_id)),
      coordinator_(coordinator),
      membership_(membership),
      store_(store),
      replicas_(replicas) {}

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
  // Membership is static until the Raft metadata log lands (issue 3): no leader, no term.
  j["raft"] = {{"role", "none"}, {"term", 0}, {"leader", nullptr}};
  j["members"] = nlohmann::json::array();
  if (!view->formed()) {
    j["epoch"] = 0;
    j["partitions"] = 0;
    j["formed"] = false;
    return j;
  }
  const Ring& ring = *view->ring;
  j["epoch"] = ring.epoch();
  j["partitions"] = ring.partitions();
  j["formed"] = true;
  for (size_t i = 0; i < ring.members().size(); ++i) {
    const Member& m = ring.members()[i];
    j["members"].push_back({{"id", m.id},
                            {"peer", m.peer_address},
                            {"http", m.http_address},
                            {"state", member_state_name(view->states[i])},
                            {"partitions", ring.partitions_replicated_by(i).size()},
                            {"primary_partitions", ring.partitions_led_by(i).size()}});
  }
  return j;
}

bool NodeService::ready() {
  return membership_->view()->formed();
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
