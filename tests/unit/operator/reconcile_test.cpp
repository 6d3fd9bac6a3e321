// The operator's reconcile decision: one test per rule, and the walk through a whole scale-down
// with the operator "restarted" (a fresh call with only the observed state) at every step.
#include <catch2/catch.hpp>

#include <algorithm>

#include "k8s/operator/objects.h"
#include "k8s/operator/reconcile.h"

namespace chorus::op {
namespace {

ClusterSpec spec_of(int replicas, const std::string& image = "chorus:1") {
  ClusterSpec s;
  s.replicas = replicas;
  s.image = image;
  s.replication_factor = 3;
  return s;
}

// A settled cluster of n healthy pods and members running `image`.
Observed settled(int n, const std::string& image = "chorus:1") {
  Observed o;
  o.headless_service = o.client_service = o.pdb = o.network_policy = o.statefulset = true;
  o.sts_replicas = n;
  o.sts_image = image;
  std::vector<MemberState> members;
  for (int i = 0; i < n; ++i) {
    o.pods.push_back({i, image, true});
    members.push_back({member_id("chorus", i), "alive", "active"});
  }
  o.members = members;
  return o;
}

MemberState* member(Observed& o, int i) {
  for (auto& m : *o.members) {
    if (m.id == member_id("chorus", i)) return &m;
  }
  return nullptr;
}

Action only(const std::vector<Action>& actions) {
  REQUIRE(actions.size() == 1);
  return actions[0];
}

TEST_CASE("reconcile: creates what is missing with the StatefulSet at the replication factor") {
  // Fewer pods than the replication factor could not hold every replica; more join one by one.
  const int replicas = GENERATE(1, 3, 5);
  Observed empty;
  const auto actions = reconcile(spec_of(replicas), empty);
  REQUIRE(actions.size() == 5);
  CHECK(actions[0].kind == ActionKind::kCreateHeadlessService);
  CHECK(actions[3].kind == ActionKind::kCreateNetworkPolicy);
  CHECK(actions[4].kind == ActionKind::kCreateStatefulSet);
  CHECK(actions[4].replicas == 3);
  CHECK(actions[4].image == "chorus:1");
}

TEST_CASE("reconcile: a settled cluster that matches its spec needs nothing") {
  CHECK(reconcile(spec_of(3), settled(3)).empty());
}

TEST_CASE("reconcile: scale up adds one pod at a time once every member is alive and active") {
  Observed o = settled(3);
  Action a = only(reconcile(spec_of(5), o));
  CHECK(a.kind == ActionKind::kSetReplicas);
  CHECK(a.replicas == 4);
  // The 4th pod exists but has not joined yet: wait, do not add the 5th.
  o.sts_replicas = 4;
  o.pods.push_back({3, "chorus:1", false});
  CHECK(only(reconcile(spec_of(5), o)).kind == ActionKind::kWait);
  o.members->push_back({"chorus-3", "alive", "joining"});
  CHECK(only(reconcile(spec_of(5), o)).kind == ActionKind::kWait);
  o.transition = true;  // streaming its partitions
  CHECK(only(reconcile(spec_of(5), o)).kind == ActionKind::kWait);
  o.transition = false;
  member(o, 3)->status = "active";
  a = only(reconcile(spec_of(5), o));
  CHECK(a.kind == ActionKind::kSetReplicas);
  CHECK(a.replicas == 5);
}

TEST_CASE(
    "reconcile: scale down decommissions the highest ordinal and removes its pod once it left") {
  Observed o = settled(5);
  Action a = only(reconcile(spec_of(3), o));
  CHECK(a.kind == ActionKind::kDecommission);
  CHECK(a.node == "chorus-4");
  // Leaving (and the transition running): wait; the pod stays.
  member(o, 4)->status = "leaving";
  o.transition = true;
  CHECK(only(reconcile(spec_of(3), o)).kind == ActionKind::kWait);
  o.transition = false;
  CHECK(only(reconcile(spec_of(3), o)).kind == ActionKind::kWait);
  // Gone from the membership: only now replicas go down, by one.
  o.members->pop_back();
  a = only(reconcile(spec_of(3), o));
  CHECK(a.kind == ActionKind::kSetReplicas);
  CHECK(a.replicas == 4);
}

TEST_CASE("reconcile: never two decommissions at once and never below the replication factor") {
  Observed o = settled(5);
  member(o, 2)->state = "suspect";  // another member is unwell: do not start one more departure
  CHECK(only(reconcile(spec_of(3), o)).kind == ActionKind::kWait);
  // Asking for fewer nodes than the replication factor stops at the replication factor.
  Observed three = settled(3);
  CHECK(reconcile(spec_of(1), three).empty());
  Observed four = settled(4);
  const Action a = only(reconcile(spec_of(1), four));
  CHECK(a.kind == ActionKind::kDecommission);
  CHECK(a.node == "chorus-3");
}

TEST_CASE("reconcile: an operator restarted at any step of a scale-down resumes it") {
  // Each step is a fresh call with only what is observed; applying its action moves the world.
  Observed o = settled(5);
  int decommissions = 0;
  for (int step = 0; step < 20 && o.sts_replicas > 3; ++step) {
    const Action a = only(reconcile(spec_of(3), o));
    switch (a.kind) {
      case ActionKind::kDecommission:
        ++decommissions;
        member(o, o.sts_replicas - 1)->status = "leaving";
        break;
      case ActionKind::kWait: {
        // The leaving member finishes streaming and leaves.
        auto& ms = *o.members;
        ms.erase(std::remove_if(ms.begin(), ms.end(),
                                [](const MemberState& m) { return m.status == "leaving"; }),
                 ms.end());
        break;
      }
      case ActionKind::kSetReplicas:
        REQUIRE(a.replicas == o.sts_replicas - 1);
        o.sts_replicas = a.replicas;
        o.pods.pop_back();
        break;
      default:
        FAIL("unexpected action");
    }
  }
  CHECK(o.sts_replicas == 3);
  CHECK(decommissions == 2);
  CHECK(reconcile(spec_of(3), o).empty());
}

TEST_CASE("reconcile: a rolling upgrade replaces one pod at a time from the highest ordinal") {
  Observed o = settled(3);
  Action a = only(reconcile(spec_of(3, "chorus:2"), o));
  CHECK(a.kind == ActionKind::kSetImage);
  CHECK(a.image == "chorus:2");
  CHECK(a.partition == 3);  // nothing replaced yet
  o.sts_image = "chorus:2";
  o.sts_partition = 3;
  a = only(reconcile(spec_of(3, "chorus:2"), o));
  CHECK(a.kind == ActionKind::kSetPartition);
  CHECK(a.partition == 2);
  o.sts_partition = 2;
  // chorus-2 restarts with the new image: wait until it is ready and a healthy member again.
  o.pods[2] = {2, "chorus:2", false};
  CHECK(only(reconcile(spec_of(3, "chorus:2"), o)).kind == ActionKind::kWait);
  o.pods[2].ready = true;
  member(o, 2)->state = "suspect";
  CHECK(only(reconcile(spec_of(3, "chorus:2"), o)).kind == ActionKind::kWait);
  member(o, 2)->state = "alive";
  a = only(reconcile(spec_of(3, "chorus:2"), o));
  CHECK(a.kind == ActionKind::kSetPartition);
  CHECK(a.partition == 1);
  // A scale request during the upgrade waits for it to finish.
  o.sts_partition = 1;
  o.pods[1] = {1, "chorus:2", true};
  CHECK(only(reconcile(spec_of(5, "chorus:2"), o)).kind == ActionKind::kSetPartition);
}

}  // namespace
}  // namespace chorus::op
