// The security a ChorusCluster runs with (issue 11, DESIGN.md §10): the Secrets the operator
// creates, owns and keeps current, and what it decides about them each pass.
//
// Secrets, for a ChorusCluster "NAME" (each with an owner reference, like the other objects):
//   NAME-ca     ca.pem, ca-key.pem: the cluster's CA. Read by the operator only, never mounted.
//   NAME-tls    ca.pem and, for every pod NAME-i, NAME-i.pem and NAME-i-key.pem: a certificate
//               whose Common Name is the pod name (the Chorus node id) with the pod's DNS names,
//               the client Service's, and localhost (port-forward) as subjectAltNames. Mounted
//               at kTlsMountPath.
//   NAME-gossip gossip.key: the gossip keyring. Mounted at kGossipMountPath.
//   NAME-acl    acl.json: the HTTP API's tokens. The operator keeps one entry of its own
//               (kOperatorTokenName, admin) and leaves every other entry to the user. Mounted at
//               kAclMountPath.
//   NAME-admin  token: the operator's admin token, which it sends to the pods; an administrator
//               may read it too (kubectl get secret NAME-admin).
// The pods re-read the mounted files when the kubelet updates them (--security-reload-check-s),
// so renewals and ACL edits need no restart.
//
// Trade-off: a StatefulSet has one pod template, so every pod mounts every pod's key; a pod that
// is broken into can speak as its siblings. Per-pod Secrets need a certificate request per pod
// (an init container and a CSR flow), which is the next step if that matters.
//
// Certificates are renewed `renew_before_days` before they expire; a missing or unreadable one,
// or one naming someone else, is issued again. The CA is not rotated: it is made for ten years,
// and replacing it is a manual step (README, Kubernetes).
//
// Thread-safety: pure; values only, except issue_credentials (OpenSSL randomness).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "k8s/operator/objects.h"

namespace chorus::op {

inline constexpr const char* kTlsMountPath = "/etc/chorus/tls";
inline constexpr const char* kGossipMountPath = "/etc/chorus/gossip";
inline constexpr const char* kAclMountPath = "/etc/chorus/acl";
inline constexpr const char* kOperatorTokenName = "chorus-operator";
// How often the pods look for changed files (their --security-reload-check-s).
inline constexpr int kSecurityReloadCheckS = 10;

struct CertPolicy {
  uint32_t ca_days = 3650;
  uint32_t cert_days = 365;
  uint32_t renew_before_days = 30;
};

std::string ca_secret_name(const ChorusCluster& c);
std::string tls_secret_name(const ChorusCluster& c);
std::string gossip_secret_name(const ChorusCluster& c);
std::string acl_secret_name(const ChorusCluster& c);
std::string admin_secret_name(const ChorusCluster& c);
std::string secrets_path(const std::string& ns);

// The DNS names a pod is reached by: through the headless Service (what the operator and the
// peers use) and through the client Service (what applications use).
std::vector<std::string> pod_dns_names(const ChorusCluster& c, int ordinal);
// The first of those: the name the operator verifies a pod's certificate against.
std::string pod_dns_name(const ChorusCluster& c, int ordinal);

// A Secret's data, decoded (key -> bytes).
using SecretData = std::map<std::string, std::string>;
// InvalidArgument when a value is not base64.
[[nodiscard]] Result<SecretData> secret_data(const nlohmann::json& secret);
// An Opaque Secret named `name` owned by `c`, holding `data` (encoded).
nlohmann::json secret_object(const ChorusCluster& c, const std::string& name,
                             const SecretData& data);

// The Secrets as observed; nullopt for one that does not exist.
struct ObservedSecrets {
  std::optional<SecretData> ca, tls, gossip, acl, admin;
};

// What this pass must write, decided from what was observed.
struct CredentialPlan {
  bool create_ca = false;
  bool create_gossip = false;
  bool create_admin = false;         // a new operator token
  bool write_acl = false;            // acl.json lacks the operator's current entry (or is missing)
  std::vector<int> issue;            // ordinals whose certificate is (re)issued
  std::vector<std::string> drop;     // NAME-tls keys of pods that no longer exist
  bool write_tls = false;            // NAME-tls changes (issue, drop, or its ca.pem is stale)
  std::vector<std::string> reasons;  // one line each, for the log
  bool empty() const {
    return !create_ca && !create_gossip && !create_admin && !write_acl && !write_tls;
  }
};

// `pods`: certificates are kept for ordinals 0..pods-1. `now_unix_s`: wall time.
CredentialPlan plan_credentials(const ChorusCluster& c, int pods, const ObservedSecrets& s,
                                int64_t now_unix_s, const CertPolicy& policy);

// acl.json with the operator's entry for `token` (replacing any earlier entry of that name) and
// every other entry of `current` kept. InvalidArgument when `current` is not an ACL document.
[[nodiscard]] Result<std::string> acl_with_operator_entry(const std::optional<std::string>& current,
                                                          const std::string& token);

// The Secrets' new contents after carrying `plan` out (only those that change are set), making
// the keys, certificates and tokens it needs. `s` is what was observed.
struct IssuedSecrets {
  std::optional<SecretData> ca, tls, gossip, acl, admin;
};
[[nodiscard]] Result<IssuedSecrets> issue_credentials(const ChorusCluster& c, int pods,
                                                      const CredentialPlan& plan,
                                                      const ObservedSecrets& s,
                                                      const CertPolicy& policy);

// What the operator needs to speak to the pods: the CA their certificates chain to and its
// token. Empty strings until the Secrets exist.
struct ChorusAccess {
  std::string ca_pem;
  std::string token;
};
ChorusAccess chorus_access(const ObservedSecrets& s);

}  // namespace chorus::op
