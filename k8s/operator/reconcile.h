// The ChorusCluster operator's decision (issue 5): a pure function from the desired spec and the
// observed state (the StatefulSet, its pods, and the Chorus cluster's own view from /v1/cluster)
// to the next actions. No I/O, no clock, no memory between calls: everything it needs is
// observed again each time, so an operator restarted at any point (mid-decommission, mid-upgrade)
// takes the same decision the previous one would have.
//
// Rules, one operation at a time and nothing while Chorus is moving data (a transition):
//   - Create what is missing (headless and client Services, PodDisruptionBudget, NetworkPolicy,
//     StatefulSet). The Secrets the pods mount come first, from credentials.h, outside this
//     function: a pass that writes them decides nothing else.
//   - Rolling upgrade first when the image differs: set the new image with the StatefulSet's
//     partition at `replicas` (no pod changes yet), then lower the partition by one each time every
//     pod at or above it runs the new image and is ready and every member is alive.
//   - Scale up: one pod at a time, only once every current member is alive and active.
//   - Safe scale down: never below the replication factor; decommission the highest ordinal
//     through the Chorus API, wait while it is leaving, and lower `replicas` only once it has left
//     the membership; never two at once.
// Thread-safety: pure; values only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace chorus::op {

struct ClusterSpec {
  std::string name = "chorus";  // members are name-0, name-1, ...
  int replicas = 3;
  std::string image;
  int replication_factor = 3;
};

struct PodState {
  int ordinal = 0;
  std::string image;
  bool ready = false;
};

// A Chorus member as /v1/cluster lists it.
struct MemberState {
  std::string id;      // "chorus-N"
  std::string state;   // gossip: alive, suspect, dead
  std::string status;  // membership: joining, active, leaving
};

struct Observed {
  bool headless_service = false;
  bool client_service = false;
  bool pdb = false;
  bool network_policy = false;
  bool statefulset = false;
  int sts_replicas = 0;
  std::string sts_image;
  int sts_partition = 0;
  std::vector<PodState> pods;
  // From /v1/cluster of any ready pod; nullopt when no pod answered.
  std::optional<std::vector<MemberState>> members;
  bool transition = false;  // Chorus is streaming partitions for a membership change
  uint64_t epoch = 0;       // the ring's epoch, from /v1/cluster
};

enum class ActionKind {
  kCreateHeadlessService,
  kCreateClientService,
  kCreatePdb,
  kCreateNetworkPolicy,
  kCreateStatefulSet,  // replicationFactor pods (they bootstrap together), spec.image, partition 0
  kSetImage,           // the StatefulSet's image, with the partition at `partition`
  kSetPartition,       // the StatefulSet's rollingUpdate partition
  kSetReplicas,        // the StatefulSet's replicas
  kDecommission,       // POST /v1/cluster/nodes/{node}/decommission
  kWait,               // nothing to do until the observed state changes; `reason` says why
};

struct Action {
  ActionKind kind = ActionKind::kWait;
  int replicas = 0;
  int partition = 0;
  std::string image;
  std::string node;
  std::string reason;  // for status.currentOperation and the log
};

std::vector<Action> reconcile(const ClusterSpec& spec, const Observed& observed);

// What status.conditions say. `since` is kept from the previous status while `status` holds.
struct Condition {
  std::string type;    // Available, Progressing
  std::string status;  // True, False
  std::string reason;
  std::string message;
};

struct ClusterStatus {
  int ready_members = 0;  // members alive and active
  uint64_t epoch = 0;
  std::string current_operation;  // "Idle" or what the operator is doing or waiting for
  std::vector<Condition> conditions;
};

// The status to report after deciding `actions` on `observed`.
ClusterStatus status_of(const ClusterSpec& spec, const Observed& observed,
                        const std::vector<Action>& actions);

}  // namespace chorus::op
