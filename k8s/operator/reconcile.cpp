#include "k8s/operator/reconcile.h"

#include <algorithm>

#include "k8s/operator/objects.h"

namespace chorus::op {

namespace {

Action wait(std::string reason) {
  Action a;
  a.kind = ActionKind::kWait;
  a.reason = std::move(reason);
  return a;
}

const MemberState* find_member(const std::vector<MemberState>& members, const std::string& id) {
  for (const MemberState& m : members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

// Every pod the StatefulSet should have is a member that is alive and active.
bool healthy(const ClusterSpec& spec, const Observed& o, std::string* why) {
  const auto member_name = [&spec](int ordinal) { return member_id(spec.name, ordinal); };
  if (!o.members) {
    *why = "no Chorus node answers /v1/cluster";
    return false;
  }
  for (int i = 0; i < o.sts_replicas; ++i) {
    const MemberState* m = find_member(*o.members, member_name(i));
    if (m == nullptr) {
      *why = member_name(i) + " is not a member yet";
      return false;
    }
    if (m->state != "alive" || m->status != "active") {
      *why = member_name(i) + " is " + m->state + "/" + m->status;
      return false;
    }
  }
  return true;
}

const PodState* find_pod(const Observed& o, int ordinal) {
  for (const PodState& p : o.pods) {
    if (p.ordinal == ordinal) return &p;
  }
  return nullptr;
}

}  // namespace

std::vector<Action> reconcile(const ClusterSpec& spec, const Observed& o) {
  const auto member_name = [&spec](int ordinal) { return member_id(spec.name, ordinal); };
  std::vector<Action> actions;
  if (!o.headless_service)
    actions.push_back({ActionKind::kCreateHeadlessService, 0, 0, "", "", ""});
  if (!o.client_service) actions.push_back({ActionKind::kCreateClientService, 0, 0, "", "", ""});
  if (!o.pdb) actions.push_back({ActionKind::kCreatePdb, 0, 0, "", "", ""});
  if (!o.network_policy) actions.push_back({ActionKind::kCreateNetworkPolicy, 0, 0, "", "", ""});
  if (!o.statefulset) {
    Action create;
    create.kind = ActionKind::kCreateStatefulSet;
    // The first replicationFactor members bootstrap together (--bootstrap-expect); any more
    // join one at a time like any scale-up, each once the ring has settled.
    create.replicas = spec.replication_factor;
    create.image = spec.image;
    create.reason = "creating the StatefulSet";
    actions.push_back(create);
    return actions;
  }
  if (!actions.empty()) return actions;

  if (o.transition) return {wait("Chorus is moving partitions (a membership transition)")};

  // Rolling upgrade, before any scaling.
  if (o.sts_image != spec.image) {
    Action set;
    set.kind = ActionKind::kSetImage;
    set.image = spec.image;
    set.partition = o.sts_replicas;  // no pod is replaced until the partition comes down
    set.reason = "upgrading to " + spec.image;
    return {set};
  }
  if (o.sts_partition > 0) {
    // Pods at or above the partition run the new image: each must be ready, and the cluster
    // healthy, before the next one is replaced.
    for (int i = o.sts_partition; i < o.sts_replicas; ++i) {
      const PodState* pod = find_pod(o, i);
      if (pod == nullptr || pod->image != spec.image || !pod->ready) {
        return {wait("upgrading: " + member_name(i) + " is not running " + spec.image +
                     " and ready yet")};
      }
    }
    std::string why;
    if (!healthy(spec, o, &why)) return {wait("upgrading: " + why)};
    Action next;
    next.kind = ActionKind::kSetPartition;
    next.partition = o.sts_partition - 1;
    next.reason = "upgrading " + member_name(o.sts_partition - 1);
    return {next};
  }

  const int desired = std::max(spec.replicas, spec.replication_factor);
  if (desired > o.sts_replicas) {
    std::string why;
    if (!healthy(spec, o, &why)) return {wait("scaling up: " + why)};
    Action up;
    up.kind = ActionKind::kSetReplicas;
    up.replicas = o.sts_replicas + 1;
    up.reason = "scaling up: adding " + member_name(o.sts_replicas);
    return {up};
  }
  if (desired < o.sts_replicas) {
    const std::string last = member_name(o.sts_replicas - 1);
    if (!o.members) return {wait("scaling down: no Chorus node answers /v1/cluster")};
    const MemberState* m = find_member(*o.members, last);
    if (m == nullptr) {
      // It has left the membership: its data lives on the others. Only now the pod goes.
      Action down;
      down.kind = ActionKind::kSetReplicas;
      down.replicas = o.sts_replicas - 1;
      down.reason = "scaling down: " + last + " has left";
      return {down};
    }
    if (m->status == "leaving")
      return {wait("scaling down: " + last + " is streaming its data away")};
    // Everyone else must be healthy before one more member starts leaving.
    for (int i = 0; i + 1 < o.sts_replicas; ++i) {
      const MemberState* other = find_member(*o.members, member_name(i));
      if (other == nullptr || other->state != "alive" || other->status != "active") {
        return {wait("scaling down: " + member_name(i) + " is not alive and active")};
      }
    }
    Action decommission;
    decommission.kind = ActionKind::kDecommission;
    decommission.node = last;
    decommission.reason = "scaling down: decommissioning " + last;
    return {decommission};
  }
  std::string why;
  if (!healthy(spec, o, &why)) return {wait(why)};
  return {};
}

ClusterStatus status_of(const ClusterSpec& spec, const Observed& o,
                        const std::vector<Action>& actions) {
  ClusterStatus s;
  s.epoch = o.epoch;
  if (o.members) {
    for (const MemberState& m : *o.members) {
      if (m.state == "alive" && m.status == "active") ++s.ready_members;
    }
  }
  const bool idle = actions.empty();
  s.current_operation = idle ? "Idle" : actions.front().reason;
  if (s.current_operation.empty()) s.current_operation = "creating objects";
  std::string why;
  const bool available = o.statefulset && healthy(spec, o, &why);
  s.conditions.push_back(
      {"Available", available ? "True" : "False",
       available ? "AllMembersActive" : "MembersNotReady",
       available ? std::to_string(s.ready_members) + " members alive and active" : why});
  s.conditions.push_back(
      {"Progressing", idle ? "False" : "True", idle ? "Idle" : "Reconciling", s.current_operation});
  return s;
}

}  // namespace chorus::op
