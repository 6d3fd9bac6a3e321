#include "k8s/operator/objects.h"

#include "k8s/operator/credentials.h"

namespace chorus::op {

namespace {

using nlohmann::json;

// Waits for the pod's own DNS record (it appears shortly after the pod's IP), then runs chorusd
// with the pod's addresses and the seeds; the container's args follow as "$@".
std::string launcher(const ChorusCluster& c) {
  const std::string peers = headless_service_name(c);
  const int seeds = std::min(c.replication_factor, kSeedsMax);
  return "self=\"${POD_NAME}." + peers +
         ".${POD_NAMESPACE}.svc.cluster.local\"\n"
         "until getent hosts \"$self\" >/dev/null; do sleep 1; done\n"
         "seeds=\"\"\n"
         "i=0\n"
         "while [ $i -lt " +
         std::to_string(seeds) +
         " ]; do\n"
         "  seeds=\"${seeds:+$seeds,}" +
         c.name + "-$i." + peers +
         ".${POD_NAMESPACE}.svc.cluster.local:" + std::to_string(kChorusPeerPort) +
         "\"\n"
         "  i=$((i + 1))\n"
         "done\n"
         "exec /usr/local/bin/chorusd --id \"$POD_NAME\" --http \"$self:" +
         std::to_string(kChorusHttpPort) + "\" --peer \"$self:" + std::to_string(kChorusPeerPort) +
         "\" --data /data --seeds \"$seeds\" \"$@\"\n";
}

json labels(const ChorusCluster& c) {
  return {{"app.kubernetes.io/name", "chorus"},
          {kInstanceLabel, c.name},
          {"app.kubernetes.io/managed-by", "chorus-operator"}};
}

json selector(const ChorusCluster& c) {
  return {{"app.kubernetes.io/name", "chorus"}, {kInstanceLabel, c.name}};
}

}  // namespace

json owned_metadata(const ChorusCluster& c, const std::string& name) {
  return {{"name", name},
          {"namespace", c.namespace_},
          {"labels", labels(c)},
          {"ownerReferences", json::array({{{"apiVersion", kGroupVersion},
                                            {"kind", "ChorusCluster"},
                                            {"name", c.name},
                                            {"uid", c.uid},
                                            {"controller", true},
                                            {"blockOwnerDeletion", true}}})}};
}

namespace {

Status positive(const json& spec, const char* field, int* out, int min, int max) {
  if (!spec.contains(field)) return Status::OK();
  const json& v = spec[field];
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    return Status::InvalidArgument(std::string("spec.") + field + " must be an integer in [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  *out = v.get<int>();
  return Status::OK();
}

Status text(const json& spec, const char* field, std::string* out) {
  if (!spec.contains(field)) return Status::OK();
  if (!spec[field].is_string() || spec[field].get<std::string>().empty()) {
    return Status::InvalidArgument(std::string("spec.") + field + " must be a non-empty string");
  }
  *out = spec[field].get<std::string>();
  return Status::OK();
}

}  // namespace

Result<ChorusCluster> parse_cluster(const json& object) {
  ChorusCluster c;
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return Status::InvalidArgument("not a Kubernetes object");
  }
  const json& md = object["metadata"];
  c.name = md.value("name", "");
  c.namespace_ = md.value("namespace", "");
  c.uid = md.value("uid", "");
  c.generation = md.value("generation", int64_t{0});
  if (c.name.empty() || c.uid.empty()) return Status::InvalidArgument("metadata.name/uid missing");
  const json spec = object.value("spec", json::object());
  if (!spec.is_object()) return Status::InvalidArgument("spec must be an object");
  CHORUS_RETURN_IF_ERROR(positive(spec, "replicas", &c.replicas, 1, 1024));
  CHORUS_RETURN_IF_ERROR(text(spec, "image", &c.image));
  CHORUS_RETURN_IF_ERROR(text(spec, "storage", &c.storage));
  CHORUS_RETURN_IF_ERROR(text(spec, "engine", &c.engine));
  CHORUS_RETURN_IF_ERROR(positive(spec, "replicationFactor", &c.replication_factor, 1, 7));
  CHORUS_RETURN_IF_ERROR(positive(spec, "readQuorum", &c.read_quorum, 1, 7));
  CHORUS_RETURN_IF_ERROR(positive(spec, "writeQuorum", &c.write_quorum, 1, 7));
  if (c.image.empty()) return Status::InvalidArgument("spec.image is required");
  if (c.engine != "rocksdb" && c.engine != "leveldb") {
    return Status::InvalidArgument("spec.engine must be rocksdb or leveldb");
  }
  if (c.read_quorum > c.replication_factor || c.write_quorum > c.replication_factor) {
    return Status::InvalidArgument(
        "spec.readQuorum and spec.writeQuorum must not exceed "
        "spec.replicationFactor");
  }
  if (spec.contains("resources")) {
    if (!spec["resources"].is_object()) return Status::InvalidArgument("spec.resources: object");
    c.resources = spec["resources"];
  }
  c.status = object.value("status", json::object());
  if (!c.status.is_object()) c.status = json::object();
  return c;
}

std::string headless_service_name(const ChorusCluster& c) {
  return c.name + "-peers";
}

std::string member_id(const std::string& cluster_name, int ordinal) {
  return cluster_name + "-" + std::to_string(ordinal);
}

int ordinal_of(const std::string& cluster_name, const std::string& pod) {
  const std::string prefix = cluster_name + "-";
  if (pod.size() <= prefix.size() || pod.compare(0, prefix.size(), prefix) != 0) return -1;
  int n = 0;
  for (size_t i = prefix.size(); i < pod.size(); ++i) {
    if (pod[i] < '0' || pod[i] > '9' || n > 100'000) return -1;
    n = n * 10 + (pod[i] - '0');
  }
  return n;
}

json headless_service(const ChorusCluster& c) {
  json ports =
      json::array({{{"name", "http"}, {"port", kChorusHttpPort}, {"protocol", "TCP"}},
                   {{"name", "peer-tcp"}, {"port", kChorusPeerPort}, {"protocol", "TCP"}},
                   {{"name", "peer-udp"}, {"port", kChorusPeerPort}, {"protocol", "UDP"}}});
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", owned_metadata(c, headless_service_name(c))},
          {"spec",
           {{"clusterIP", "None"},
            // Peers must resolve each other before they are ready: readiness needs the ring.
            {"publishNotReadyAddresses", true},
            {"selector", selector(c)},
            {"ports", ports}}}};
}

json client_service(const ChorusCluster& c) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", owned_metadata(c, c.name)},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", selector(c)},
            {"ports", json::array({{{"name", "http"},
                                    {"port", kChorusHttpPort},
                                    {"targetPort", "http"},
                                    {"protocol", "TCP"}}})}}}};
}

json pod_disruption_budget(const ChorusCluster& c) {
  return {{"apiVersion", "policy/v1"},
          {"kind", "PodDisruptionBudget"},
          {"metadata", owned_metadata(c, c.name)},
          {"spec", {{"maxUnavailable", 1}, {"selector", {{"matchLabels", selector(c)}}}}}};
}

json stateful_set(const ChorusCluster& c, int replicas) {
  const json args = {"--engine", c.engine, "--replicas", std::to_string(c.replication_factor),
                     "--read-quorum", std::to_string(c.read_quorum), "--write-quorum",
                     std::to_string(c.write_quorum), "--bootstrap-expect",
                     std::to_string(c.replication_factor),
                     // The Secrets the operator issues (credentials.h); the kubelet expands
                     // $(POD_NAME) to this pod's name, so each pod presents its own certificate.
                     "--tls-cert", std::string(kTlsMountPath) + "/$(POD_NAME).pem", "--tls-key",
                     std::string(kTlsMountPath) + "/$(POD_NAME)-key.pem", "--tls-ca",
                     std::string(kTlsMountPath) + "/ca.pem", "--gossip-key",
                     std::string(kGossipMountPath) + "/gossip.key", "--acl-file",
                     std::string(kAclMountPath) + "/acl.json", "--security-reload-check-s",
                     std::to_string(kSecurityReloadCheckS)};
  json env = json::array(
      {{{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
       {{"name", "POD_NAMESPACE"},
        {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}});
  json container = {
      {"name", kContainerName},
      {"image", c.image},
      {"imagePullPolicy", "IfNotPresent"},
      {"command", {"/bin/sh", "-c", launcher(c), "chorusd"}},
      {"args", args},
      {"env", env},
      {"ports",
       json::array(
           {{{"name", "http"}, {"containerPort", kChorusHttpPort}, {"protocol", "TCP"}},
            {{"name", "peer-tcp"}, {"containerPort", kChorusPeerPort}, {"protocol", "TCP"}},
            {{"name", "peer-udp"}, {"containerPort", kChorusPeerPort}, {"protocol", "UDP"}}})},
      {"readinessProbe",
       {{"httpGet", {{"path", "/v1/ready"}, {"port", "http"}, {"scheme", "HTTPS"}}},
        {"periodSeconds", 2},
        {"failureThreshold", 3}}},
      {"livenessProbe",
       {{"httpGet", {{"path", "/v1/health"}, {"port", "http"}, {"scheme", "HTTPS"}}},
        {"initialDelaySeconds", 10},
        {"periodSeconds", 10},
        {"failureThreshold", 6}}},
      // Out of the client Service's endpoints before SIGTERM (see k8s/statefulset.yaml).
      {"lifecycle", {{"preStop", {{"exec", {{"command", {"/bin/sh", "-c", "sleep 5"}}}}}}}},
      {"resources", c.resources},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", {"ALL"}}}}}},
      {"volumeMounts",
       json::array({{{"name", "data"}, {"mountPath", "/data"}},
                    {{"name", "tls"}, {"mountPath", kTlsMountPath}, {"readOnly", true}},
                    {{"name", "gossip"}, {"mountPath", kGossipMountPath}, {"readOnly", true}},
                    {{"name", "acl"}, {"mountPath", kAclMountPath}, {"readOnly", true}}})}};
  // Readable by the pod's group (fsGroup) only.
  const auto secret_volume = [](const char* name, const std::string& secret) {
    return json{{"name", name}, {"secret", {{"secretName", secret}, {"defaultMode", 0440}}}};
  };
  json pod_spec = {
      {"terminationGracePeriodSeconds", 30},
      {"securityContext",
       {{"runAsNonRoot", true}, {"runAsUser", 10001}, {"runAsGroup", 10001}, {"fsGroup", 10001}}},
      {"containers", json::array({container})},
      {"volumes", json::array({secret_volume("tls", tls_secret_name(c)),
                               secret_volume("gossip", gossip_secret_name(c)),
                               secret_volume("acl", acl_secret_name(c))})}};
  json claim = {{"metadata", {{"name", "data"}}},
                {"spec",
                 {{"accessModes", {"ReadWriteOnce"}},
                  {"resources", {{"requests", {{"storage", c.storage}}}}}}}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", owned_metadata(c, c.name)},
          {"spec",
           {{"serviceName", headless_service_name(c)},
            {"replicas", replicas},
            {"podManagementPolicy", "Parallel"},
            {"updateStrategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}}},
            // A member that was decommissioned handed its data over: a later scale-up must start
            // that ordinal afresh, not from the volume of a node that has left.
            {"persistentVolumeClaimRetentionPolicy",
             {{"whenScaled", "Delete"}, {"whenDeleted", "Retain"}}},
            {"selector", {{"matchLabels", selector(c)}}},
            {"template", {{"metadata", {{"labels", labels(c)}}}, {"spec", pod_spec}}},
            {"volumeClaimTemplates", json::array({claim})}}}};
}

json network_policy(const ChorusCluster& c) {
  const json peer_ports = json::array({{{"port", kChorusPeerPort}, {"protocol", "TCP"}},
                                       {{"port", kChorusPeerPort}, {"protocol", "UDP"}}});
  return {
      {"apiVersion", "networking.k8s.io/v1"},
      {"kind", "NetworkPolicy"},
      {"metadata", owned_metadata(c, c.name)},
      {"spec",
       {{"podSelector", {{"matchLabels", selector(c)}}},
        {"policyTypes", {"Ingress"}},
        {"ingress",
         json::array({// The HTTP API from anywhere (its ACL decides what a client may do).
                      {{"ports", json::array({{{"port", kChorusHttpPort}, {"protocol", "TCP"}}})}},
                      // Gossip and the internode transport from this cluster's pods only.
                      {{"from", json::array({{{"podSelector", {{"matchLabels", selector(c)}}}}})},
                       {"ports", peer_ports}}})}}}};
}

std::string cluster_collection_path(const std::string& ns) {
  return std::string("/apis/") + kGroupVersion + "/namespaces/" + ns + "/chorusclusters";
}
std::string services_path(const std::string& ns) {
  return "/api/v1/namespaces/" + ns + "/services";
}
std::string pdbs_path(const std::string& ns) {
  return "/apis/policy/v1/namespaces/" + ns + "/poddisruptionbudgets";
}
std::string statefulsets_path(const std::string& ns) {
  return "/apis/apps/v1/namespaces/" + ns + "/statefulsets";
}
std::string pods_path(const std::string& ns) {
  return "/api/v1/namespaces/" + ns + "/pods";
}
std::string networkpolicies_path(const std::string& ns) {
  return "/apis/networking.k8s.io/v1/namespaces/" + ns + "/networkpolicies";
}
std::string leases_path(const std::string& ns) {
  return "/apis/coordination.k8s.io/v1/namespaces/" + ns + "/leases";
}

}  // namespace chorus::op
