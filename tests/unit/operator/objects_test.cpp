// The objects the operator owns, built from a ChorusCluster, and the checks on its spec.
#include <catch2/catch.hpp>

#include "k8s/operator/objects.h"
#include "k8s/operator/reconcile.h"

namespace chorus::op {
namespace {

using nlohmann::json;

json cluster(json spec) {
  return {{"apiVersion", "chorus.io/v1alpha1"},
          {"kind", "ChorusCluster"},
          {"metadata", {{"name", "kv"}, {"namespace", "prod"}, {"uid", "u-1"}, {"generation", 4}}},
          {"spec", spec}};
}

TEST_CASE("objects: a ChorusCluster is read with the CRD's defaults") {
  auto c = parse_cluster(cluster({{"replicas", 5}, {"image", "chorus:2"}}));
  REQUIRE(c.ok());
  CHECK(c->name == "kv");
  CHECK(c->namespace_ == "prod");
  CHECK(c->generation == 4);
  CHECK(c->replicas == 5);
  CHECK(c->engine == "rocksdb");
  CHECK(c->replication_factor == 3);
  CHECK(c->read_quorum == 2);
  CHECK(c->write_quorum == 2);
  CHECK(c->storage == "10Gi");
}

TEST_CASE("objects: a spec the schema lets through but Chorus cannot run is refused") {
  CHECK_FALSE(parse_cluster(cluster({{"replicas", 3}})).ok());  // no image
  CHECK_FALSE(parse_cluster(cluster({{"replicas", 0}, {"image", "x"}})).ok());
  CHECK_FALSE(parse_cluster(cluster({{"replicas", "3"}, {"image", "x"}})).ok());
  CHECK_FALSE(parse_cluster(cluster({{"image", "x"}, {"engine", "sqlite"}})).ok());
  auto quorum =
      parse_cluster(cluster({{"image", "x"}, {"replicationFactor", 3}, {"writeQuorum", 4}}));
  REQUIRE_FALSE(quorum.ok());
  CHECK(quorum.status().to_string().find("writeQuorum") != std::string::npos);
  CHECK_FALSE(parse_cluster(json{{"spec", {{"image", "x"}}}}).ok());  // no metadata
}

TEST_CASE("objects: every owned object carries the controller owner reference") {
  auto c = parse_cluster(cluster({{"image", "chorus:2"}}));
  REQUIRE(c.ok());
  for (const json& o : {headless_service(*c), client_service(*c), pod_disruption_budget(*c),
                        network_policy(*c), stateful_set(*c, 3)}) {
    const json& ref = o["metadata"]["ownerReferences"][0];
    CHECK(ref["uid"] == "u-1");
    CHECK(ref["kind"] == "ChorusCluster");
    CHECK(ref["controller"] == true);
    CHECK(o["metadata"]["namespace"] == "prod");
    CHECK(o["metadata"]["labels"][kInstanceLabel] == "kv");
  }
  CHECK(headless_service(*c)["metadata"]["name"] == "kv-peers");
  CHECK(headless_service(*c)["spec"]["publishNotReadyAddresses"] == true);
  CHECK(pod_disruption_budget(*c)["spec"]["maxUnavailable"] == 1);
}

TEST_CASE("objects: the StatefulSet runs the spec's image with its fixed flags") {
  auto c = parse_cluster(cluster({{"image", "chorus:2"},
                                  {"engine", "leveldb"},
                                  {"replicationFactor", 5},
                                  {"readQuorum", 3},
                                  {"writeQuorum", 3},
                                  {"storage", "50Gi"},
                                  {"resources", {{"limits", {{"memory", "4Gi"}}}}}}));
  REQUIRE(c.ok());
  const json sts = stateful_set(*c, 5);
  CHECK(sts["spec"]["replicas"] == 5);
  CHECK(sts["spec"]["serviceName"] == "kv-peers");
  CHECK(sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == 0);
  CHECK(sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Delete");
  CHECK(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] ==
        "50Gi");
  const json& container = sts["spec"]["template"]["spec"]["containers"][0];
  CHECK(container["image"] == "chorus:2");
  CHECK(container["resources"]["limits"]["memory"] == "4Gi");
  CHECK(container["readinessProbe"]["httpGet"]["path"] == "/v1/ready");
  CHECK(container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS");
  CHECK(container["livenessProbe"]["httpGet"]["path"] == "/v1/health");
  CHECK(container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS");
  const auto args = container["args"].get<std::vector<std::string>>();
  const std::vector<std::string> expected = {
      "--engine", "leveldb", "--replicas", "5", "--read-quorum", "3", "--write-quorum", "3",
      "--bootstrap-expect", "5",
      // Secure: each pod its own certificate, the shared gossip key and ACL; no --insecure.
      "--tls-cert", "/etc/chorus/tls/$(POD_NAME).pem", "--tls-key",
      "/etc/chorus/tls/$(POD_NAME)-key.pem", "--tls-ca", "/etc/chorus/tls/ca.pem", "--gossip-key",
      "/etc/chorus/gossip/gossip.key", "--acl-file", "/etc/chorus/acl/acl.json",
      "--security-reload-check-s", "10"};
  CHECK(args == expected);
  // The files come from the Secrets, mounted read-only.
  const json& volumes = sts["spec"]["template"]["spec"]["volumes"];
  REQUIRE(volumes.size() == 3);
  CHECK(volumes[0]["secret"]["secretName"] == "kv-tls");
  CHECK(volumes[1]["secret"]["secretName"] == "kv-gossip");
  CHECK(volumes[2]["secret"]["secretName"] == "kv-acl");
  for (const json& mount : container["volumeMounts"]) {
    if (mount["name"] != "data") CHECK(mount["readOnly"] == true);
  }
  // Seeds: the first three pods, through the headless Service.
  const std::string launcher = container["command"][2];
  CHECK(launcher.find("-lt 3 ]") != std::string::npos);
  CHECK(launcher.find("kv-$i.kv-peers.") != std::string::npos);
}

TEST_CASE("objects: the NetworkPolicy admits clients on the HTTP port and only peers on 7000") {
  auto c = parse_cluster(cluster({{"image", "chorus:2"}}));
  REQUIRE(c.ok());
  const json np = network_policy(*c);
  CHECK(np["spec"]["podSelector"]["matchLabels"][kInstanceLabel] == "kv");
  CHECK(np["spec"]["policyTypes"] == json::array({"Ingress"}));
  const json& rules = np["spec"]["ingress"];
  REQUIRE(rules.size() == 2);
  CHECK_FALSE(rules[0].contains("from"));  // anyone
  CHECK(rules[0]["ports"] == json::array({{{"port", kChorusHttpPort}, {"protocol", "TCP"}}}));
  CHECK(rules[1]["from"][0]["podSelector"]["matchLabels"][kInstanceLabel] == "kv");
  CHECK(rules[1]["ports"].size() == 2);
  for (const json& port : rules[1]["ports"]) CHECK(port["port"] == kChorusPeerPort);
}

TEST_CASE("status: idle and available, or what the operator is doing") {
  ClusterSpec spec;
  spec.name = "kv";
  spec.replicas = 3;
  spec.image = "chorus:2";
  Observed o;
  o.headless_service = o.client_service = o.pdb = o.network_policy = o.statefulset = true;
  o.sts_replicas = 3;
  o.sts_image = "chorus:2";
  o.epoch = 9;
  std::vector<MemberState> members;
  for (int i = 0; i < 3; ++i) {
    o.pods.push_back({i, "chorus:2", true});
    members.push_back({member_id("kv", i), "alive", "active"});
  }
  o.members = members;
  ClusterStatus idle = status_of(spec, o, reconcile(spec, o));
  CHECK(idle.current_operation == "Idle");
  CHECK(idle.ready_members == 3);
  CHECK(idle.epoch == 9);
  CHECK(idle.conditions[0].type == "Available");
  CHECK(idle.conditions[0].status == "True");
  CHECK(idle.conditions[1].type == "Progressing");
  CHECK(idle.conditions[1].status == "False");

  spec.replicas = 4;
  ClusterStatus scaling = status_of(spec, o, reconcile(spec, o));
  CHECK(scaling.current_operation == "scaling up: adding kv-3");
  CHECK(scaling.conditions[1].status == "True");

  (*o.members)[1].state = "dead";
  ClusterStatus degraded = status_of(spec, o, reconcile(spec, o));
  CHECK(degraded.ready_members == 2);
  CHECK(degraded.conditions[0].status == "False");
  CHECK(degraded.conditions[0].message == "kv-1 is dead/active");
}

}  // namespace
}  // namespace chorus::op
