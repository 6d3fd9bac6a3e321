// NodeService: the node's implementation of the HTTP API's KvService, on top of the coordinator,
// membership and the local store. Translates consistency levels into replica counts and builds
// the cluster and debug views. Thread-safe (every part it uses is).
#pragma once

#include <atomic>

#include "antientropy/service.h"
#include "api/kv_service.h"
#include "engines/store.h"
#include "membership/membership.h"
#include "replication/coordinator.h"
#include "replication/partition_stream.h"

namespace chorus {

class NodeService final : public KvService {
 public:
  // `streamer` and `repair` may be null (no streaming progress or repair is offered then).
  NodeService(std::string self_id, Coordinator* coordinator, Membership* membership, Store* store,
              const PartitionStreamer* streamer, AntiEntropyService* repair, int replicas);

  void write(WriteArgs args, std::function<void(WriteOutcome)> done) override;
  void read(ReadArgs args, std::function<void(ReadOutcome)> done) override;
  nlohmann::json cluster_status() override;
  void change_membership(MembershipChange change, std::function<void(Status)> done) override;
  bool ready() override;
  nlohmann::json debug_owners(const std::string& key) override;
  Result<Record> debug_local(const std::string& key) override;
  Status repair_now() override;
  nlohmann::json repair_status() override;

 private:
  int resolve(const Consistency& c, int default_count) const;

  std::string self_id_;
  Coordinator* coordinator_;
  Membership* membership_;
  Store* store_;
  const PartitionStreamer* streamer_;
  AntiEntropyService* repair_;
  int replicas_;
  // Set once this process has caught up with the metadata log; readiness then no longer
  // depends on a Raft leader being known (see ready()).
  std::atomic<bool> caught_up_{false};
};

}  // namespace chorus
