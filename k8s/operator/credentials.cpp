#include "k8s/operator/credentials.h"

#include <algorithm>

#include "core/text.h"
#include "security/acl.h"
#include "security/cert_issuer.h"
#include "security/crypto.h"
#include "security/gossip_seal.h"

namespace chorus::op {

namespace {

using nlohmann::json;

constexpr int64_t kDayS = 86'400;
constexpr const char* kCaCert = "ca.pem";
constexpr const char* kCaKey = "ca-key.pem";
constexpr const char* kGossipKey = "gossip.key";
constexpr const char* kAclJson = "acl.json";
constexpr const char* kToken = "token";

std::string cert_key(const ChorusCluster& c, int ordinal) {
  return member_id(c.name, ordinal) + ".pem";
}
std::string key_key(const ChorusCluster& c, int ordinal) {
  return member_id(c.name, ordinal) + "-key.pem";
}

const std::string* find(const std::optional<SecretData>& data, const std::string& key) {
  if (!data) return nullptr;
  auto it = data->find(key);
  return it == data->end() || it->second.empty() ? nullptr : &it->second;
}

// Ordinal of a NAME-tls key ("NAME-3.pem", "NAME-3-key.pem"), or -1 for ca.pem and strangers.
int ordinal_of_key(const ChorusCluster& c, const std::string& key) {
  for (const std::string suffix : {"-key.pem", ".pem"}) {
    if (key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return ordinal_of(c.name, key.substr(0, key.size() - suffix.size()));
    }
  }
  return -1;
}

// Why ordinal's certificate must be issued again, or empty when it is good.
std::string cert_problem(const ChorusCluster& c, int ordinal, const ObservedSecrets& s,
                         int64_t now_unix_s, const CertPolicy& policy) {
  const std::string* cert = find(s.tls, cert_key(c, ordinal));
  if (cert == nullptr || find(s.tls, key_key(c, ordinal)) == nullptr) return "missing";
  auto info = security::read_certificate(*cert);
  if (!info.ok()) return "unreadable";
  if (info->common_name != member_id(c.name, ordinal)) return "names " + info->common_name;
  const int64_t left_s = info->not_after_unix_s - now_unix_s;
  if (left_s < static_cast<int64_t>(policy.renew_before_days) * kDayS) {
    return "expires in " + std::to_string(std::max<int64_t>(0, left_s / kDayS)) + " days";
  }
  return "";
}

bool has_operator_entry(const std::string& acl_text, const std::string& token) {
  const json acl = json::parse(acl_text, nullptr, false);
  if (!acl.is_object() || !acl.contains("tokens") || !acl["tokens"].is_array()) return false;
  const std::string want = security::to_hex(security::sha256(token));
  for (const json& t : acl["tokens"]) {
    if (t.is_object() && t.value("name", "") == kOperatorTokenName) {
      return t.value("secret_sha256", "") == want && t.value("admin", false);
    }
  }
  return false;
}

}  // namespace

std::string ca_secret_name(const ChorusCluster& c) {
  return c.name + "-ca";
}
std::string tls_secret_name(const ChorusCluster& c) {
  return c.name + "-tls";
}
std::string gossip_secret_name(const ChorusCluster& c) {
  return c.name + "-gossip";
}
std::string acl_secret_name(const ChorusCluster& c) {
  return c.name + "-acl";
}
std::string admin_secret_name(const ChorusCluster& c) {
  return c.name + "-admin";
}
std::string secrets_path(const std::string& ns) {
  return "/api/v1/namespaces/" + ns + "/secrets";
}

std::vector<std::string> pod_dns_names(const ChorusCluster& c, int ordinal) {
  const std::string pod = member_id(c.name, ordinal) + "." + headless_service_name(c);
  const std::string service = c.name;
  std::vector<std::string> out;
  for (const std::string& base : {pod, service}) {
    out.push_back(base + "." + c.namespace_ + ".svc.cluster.local");
    out.push_back(base + "." + c.namespace_ + ".svc");
    out.push_back(base + "." + c.namespace_);
    out.push_back(base);
  }
  return out;
}

std::string pod_dns_name(const ChorusCluster& c, int ordinal) {
  return pod_dns_names(c, ordinal).front();
}

Result<SecretData> secret_data(const json& secret) {
  SecretData out;
  if (!secret.is_object() || !secret.contains("data")) return out;
  const json& data = secret["data"];
  if (!data.is_object()) return Status::InvalidArgument("Secret data is not an object");
  for (const auto& [key, value] : data.items()) {
    if (!value.is_string()) return Status::InvalidArgument("Secret data." + key + ": not a string");
    auto bytes = base64_decode(value.get<std::string>());
    if (!bytes.ok()) return Status::InvalidArgument("Secret data." + key + ": not base64");
    out[key] = std::move(bytes).value();
  }
  return out;
}

json secret_object(const ChorusCluster& c, const std::string& name, const SecretData& data) {
  json encoded = json::object();
  for (const auto& [key, bytes] : data) encoded[key] = base64_encode(bytes);
  json object = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"type", "Opaque"},
                 {"metadata", owned_metadata(c, name)},
                 {"data", encoded}};
  return object;
}

CredentialPlan plan_credentials(const ChorusCluster& c, int pods, const ObservedSecrets& s,
                                int64_t now_unix_s, const CertPolicy& policy) {
  CredentialPlan plan;
  const std::string* ca_cert = find(s.ca, kCaCert);
  if (ca_cert == nullptr || find(s.ca, kCaKey) == nullptr) {
    plan.create_ca = true;
    plan.reasons.push_back("creating the cluster CA (" + ca_secret_name(c) + ")");
  }
  const std::string* tls_ca = find(s.tls, kCaCert);
  // Certificates signed by another CA than the one the pods are told to trust are all reissued.
  const bool ca_changed = plan.create_ca || tls_ca == nullptr || *tls_ca != *ca_cert;
  for (int i = 0; i < pods; ++i) {
    const std::string problem = ca_changed ? "new CA" : cert_problem(c, i, s, now_unix_s, policy);
    if (problem.empty()) continue;
    plan.issue.push_back(i);
    plan.reasons.push_back("issuing the certificate of " + member_id(c.name, i) + " (" + problem +
                           ")");
  }
  if (s.tls) {
    for (const auto& [key, bytes] : *s.tls) {
      const int ordinal = ordinal_of_key(c, key);
      if (key != kCaCert && (ordinal < 0 || ordinal >= pods)) plan.drop.push_back(key);
    }
  }
  if (!plan.drop.empty()) {
    plan.reasons.push_back("dropping " + std::to_string(plan.drop.size()) +
                           " key(s) of pods that are gone from " + tls_secret_name(c));
  }
  plan.write_tls = ca_changed || !plan.issue.empty() || !plan.drop.empty();
  if (find(s.gossip, kGossipKey) == nullptr) {
    plan.create_gossip = true;
    plan.reasons.push_back("creating the gossip key (" + gossip_secret_name(c) + ")");
  }
  const std::string* token = find(s.admin, kToken);
  if (token == nullptr) {
    plan.create_admin = true;
    plan.reasons.push_back("creating the operator's admin token (" + admin_secret_name(c) + ")");
  }
  const std::string* acl = find(s.acl, kAclJson);
  if (token == nullptr || acl == nullptr || !has_operator_entry(*acl, *token)) {
    plan.write_acl = true;
    plan.reasons.push_back("writing the operator's entry in " + acl_secret_name(c));
  }
  return plan;
}

Result<std::string> acl_with_operator_entry(const std::optional<std::string>& current,
                                            const std::string& token) {
  json acl = {{"tokens", json::array()}};
  if (current && !current->empty()) {
    acl = json::parse(*current, nullptr, false);
    if (!acl.is_object() || !acl.contains("tokens") || !acl["tokens"].is_array()) {
      return Status::InvalidArgument("acl.json is not {\"tokens\": [...]}; fix or delete it");
    }
  }
  json tokens = json::array();
  for (const json& t : acl["tokens"]) {
    if (!t.is_object() || t.value("name", "") != kOperatorTokenName) tokens.push_back(t);
  }
  tokens.push_back({{"name", kOperatorTokenName},
                    {"secret_sha256", security::to_hex(security::sha256(token))},
                    {"admin", true}});
  acl["tokens"] = tokens;
  return acl.dump(2) + "\n";
}

Result<IssuedSecrets> issue_credentials(const ChorusCluster& c, int pods,
                                        const CredentialPlan& plan, const ObservedSecrets& s,
                                        const CertPolicy& policy) {
  IssuedSecrets out;
  security::PemPair ca;
  if (plan.create_ca) {
    auto made = security::make_ca(c.name + "-ca", policy.ca_days);
    if (!made.ok()) return made.status();
    ca = std::move(made).value();
    out.ca = SecretData{{kCaCert, ca.cert}, {kCaKey, ca.key}};
  } else {
    ca = {*find(s.ca, kCaCert), *find(s.ca, kCaKey)};
  }
  if (plan.write_tls) {
    SecretData tls = s.tls.value_or(SecretData{});
    for (const std::string& key : plan.drop) tls.erase(key);
    tls[kCaCert] = ca.cert;
    for (int ordinal : plan.issue) {
      if (ordinal < 0 || ordinal >= pods) continue;
      // Also localhost, for `kubectl port-forward` clients.
      std::vector<std::string> hosts = pod_dns_names(c, ordinal);
      hosts.insert(hosts.end(), {"localhost", "127.0.0.1"});
      auto cert =
          security::issue_certificate(ca, member_id(c.name, ordinal), hosts, policy.cert_days);
      if (!cert.ok()) return cert.status();
      tls[cert_key(c, ordinal)] = cert->cert;
      tls[key_key(c, ordinal)] = cert->key;
    }
    out.tls = std::move(tls);
  }
  if (plan.create_gossip) {
    out.gossip = SecretData{{kGossipKey, security::GossipKeyring::generate_key() + "\n"}};
  }
  std::string token;
  if (plan.create_admin) {
    token = security::generate_token();
    out.admin = SecretData{{kToken, token}};
  } else {
    token = *find(s.admin, kToken);
  }
  if (plan.write_acl) {
    const std::string* current = find(s.acl, kAclJson);
    auto acl = acl_with_operator_entry(
        current ? std::optional<std::string>(*current) : std::nullopt, token);
    if (!acl.ok()) return acl.status();
    SecretData data = s.acl.value_or(SecretData{});
    data[kAclJson] = std::move(acl).value();
    out.acl = std::move(data);
  }
  return out;
}

ChorusAccess chorus_access(const ObservedSecrets& s) {
  ChorusAccess a;
  if (const std::string* ca = find(s.tls, kCaCert)) a.ca_pem = *ca;
  if (const std::string* token = find(s.admin, kToken)) a.token = *token;
  return a;
}

}  // namespace chorus::op
