// The Kubernetes objects the operator owns for one ChorusCluster, built from its spec: the
// headless peer Service, the client Service, the PodDisruptionBudget, the NetworkPolicy and the
// StatefulSet, each with an owner reference to the ChorusCluster (so deleting it garbage-collects
// them) and the instance label the operator selects pods by. They mirror the plain manifests in
// k8s/.
//
// Names, for a ChorusCluster "NAME": StatefulSet, client Service, PDB and NetworkPolicy "NAME",
// headless Service "NAME-peers", pods and Chorus member ids "NAME-0", "NAME-1", ...; the Secrets
// are in credentials.h.
//
// The chorusd flags that are fixed for a cluster's life (engine, replication factor, quorums,
// bootstrap count) are the container's args; the address flags, which depend on the pod, come
// from the container's command (a shell wrapper that waits for the pod's DNS record).
//
// Thread-safety: pure; values only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace chorus::op {

inline constexpr const char* kGroupVersion = "chorus.io/v1alpha1";
inline constexpr const char* kInstanceLabel = "app.kubernetes.io/instance";
inline constexpr const char* kContainerName = "chorusd";
inline constexpr int kChorusHttpPort = 8080;
inline constexpr int kChorusPeerPort = 7000;
// The first members are the gossip seeds of every pod; more would only lengthen the command line.
inline constexpr int kSeedsMax = 3;

// A ChorusCluster as the operator reads it (defaults as in the CRD).
struct ChorusCluster {
  std::string name;
  std::string namespace_;
  std::string uid;
  int64_t generation = 0;
  int replicas = 3;
  std::string image;
  std::string storage = "10Gi";
  std::string engine = "rocksdb";
  int replication_factor = 3;
  int read_quorum = 2;
  int write_quorum = 2;
  nlohmann::json resources = nlohmann::json::object();
  nlohmann::json status = nlohmann::json::object();
};

// Reads and checks a ChorusCluster object. InvalidArgument names the field: the API server's
// schema catches most mistakes, but not the relations (quorums above the replication factor).
[[nodiscard]] Result<ChorusCluster> parse_cluster(const nlohmann::json& object);

std::string headless_service_name(const ChorusCluster& c);
std::string member_id(const std::string& cluster_name, int ordinal);
// The ordinal N of pod (and member) "NAME-N" of cluster NAME, or -1 for any other name.
int ordinal_of(const std::string& cluster_name, const std::string& pod);

// metadata of an object `c` owns: name, namespace, labels and the controller owner reference.
nlohmann::json owned_metadata(const ChorusCluster& c, const std::string& name);

nlohmann::json headless_service(const ChorusCluster& c);
nlohmann::json client_service(const ChorusCluster& c);
nlohmann::json pod_disruption_budget(const ChorusCluster& c);
// The StatefulSet at `replicas` pods of `c.image`, rollingUpdate partition 0, its pods secure:
// TLS, the gossip key and the ACL from the Secrets of credentials.h, HTTPS probes.
nlohmann::json stateful_set(const ChorusCluster& c, int replicas);
// Admits the client port from anywhere and the peer port (TCP and UDP) from the cluster's pods.
nlohmann::json network_policy(const ChorusCluster& c);

// API paths (namespaced collections and items).
std::string cluster_collection_path(const std::string& ns);
std::string services_path(const std::string& ns);
std::string pdbs_path(const std::string& ns);
std::string statefulsets_path(const std::string& ns);
std::string pods_path(const std::string& ns);
std::string networkpolicies_path(const std::string& ns);
std::string leases_path(const std::string& ns);

}  // namespace chorus::op
