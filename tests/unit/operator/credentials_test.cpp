// The operator's Secrets: what it decides to create, issue, renew and drop, and what it writes.
#include "k8s/operator/credentials.h"

#include <catch2/catch.hpp>
#include <ctime>

#include "security/acl.h"
#include "security/cert_issuer.h"
#include "security/crypto.h"

namespace chorus::op {
namespace {

using nlohmann::json;

constexpr int64_t kDayS = 86'400;

ChorusCluster kv() {
  ChorusCluster c;
  c.name = "kv";
  c.namespace_ = "prod";
  c.uid = "u-1";
  c.image = "chorus:2";
  return c;
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

// What a first pass writes, read back as the next pass observes it.
ObservedSecrets issued_for(const ChorusCluster& c, int pods, const CertPolicy& policy = {}) {
  ObservedSecrets none;
  const CredentialPlan plan = plan_credentials(c, pods, none, now_s(), policy);
  auto issued = issue_credentials(c, pods, plan, none, policy);
  REQUIRE(issued.ok());
  return {issued->ca, issued->tls, issued->gossip, issued->acl, issued->admin};
}

TEST_CASE("credentials: a new cluster gets a CA, a certificate per pod, a gossip key and a token") {
  const ChorusCluster c = kv();
  const CredentialPlan plan = plan_credentials(c, 3, ObservedSecrets{}, now_s(), CertPolicy{});
  CHECK(plan.create_ca);
  CHECK(plan.create_gossip);
  CHECK(plan.create_admin);
  CHECK(plan.write_acl);
  CHECK(plan.write_tls);
  CHECK(plan.issue == std::vector<int>{0, 1, 2});

  const ObservedSecrets s = issued_for(c, 3);
  REQUIRE(s.tls);
  CHECK(s.tls->at("ca.pem") == s.ca->at("ca.pem"));
  for (int i = 0; i < 3; ++i) {
    const std::string pod = "kv-" + std::to_string(i);
    auto info = security::read_certificate(s.tls->at(pod + ".pem"));
    REQUIRE(info.ok());
    CHECK(info->common_name == pod);
    CHECK(info->not_after_unix_s > now_s() + 360 * kDayS);
    CHECK(!s.tls->at(pod + "-key.pem").empty());
  }
  CHECK(s.tls->size() == 7);  // ca.pem and a pair per pod; the CA key is not among them
  CHECK(s.tls->count("ca-key.pem") == 0);
  CHECK(s.gossip->at("gossip.key").size() == 45);  // 44 base64 characters and a newline

  // The ACL admits the operator's token as admin, and only it.
  const std::string token = s.admin->at("token");
  const json acl = json::parse(s.acl->at("acl.json"));
  REQUIRE(acl["tokens"].size() == 1);
  CHECK(acl["tokens"][0]["name"] == kOperatorTokenName);
  CHECK(acl["tokens"][0]["admin"] == true);
  CHECK(acl["tokens"][0]["secret_sha256"] == security::to_hex(security::sha256(token)));
  CHECK(chorus_access(s).token == token);
  CHECK(chorus_access(s).ca_pem == s.ca->at("ca.pem"));

  // Once written, the next pass has nothing to do.
  CHECK(plan_credentials(c, 3, s, now_s(), CertPolicy{}).empty());
}

TEST_CASE("credentials: scaling issues certificates for new pods and drops those of gone pods") {
  const ChorusCluster c = kv();
  ObservedSecrets s = issued_for(c, 3);
  const std::string kv1 = s.tls->at("kv-1.pem");

  CredentialPlan up = plan_credentials(c, 5, s, now_s(), CertPolicy{});
  CHECK(up.issue == std::vector<int>{3, 4});
  CHECK(up.drop.empty());
  CHECK_FALSE(up.create_ca);
  auto grown = issue_credentials(c, 5, up, s, CertPolicy{});
  REQUIRE(grown.ok());
  REQUIRE(grown->tls);
  CHECK(grown->tls->at("kv-1.pem") == kv1);  // the others keep theirs
  CHECK(grown->tls->count("kv-4-key.pem") == 1);
  CHECK_FALSE(grown->ca);  // nothing else is rewritten
  CHECK_FALSE(grown->gossip);
  CHECK_FALSE(grown->acl);
  s.tls = grown->tls;

  CredentialPlan down = plan_credentials(c, 3, s, now_s(), CertPolicy{});
  CHECK(down.issue.empty());
  CHECK(down.drop ==
        std::vector<std::string>{"kv-3-key.pem", "kv-3.pem", "kv-4-key.pem", "kv-4.pem"});
  auto shrunk = issue_credentials(c, 3, down, s, CertPolicy{});
  REQUIRE(shrunk.ok());
  CHECK(shrunk->tls->size() == 7);
  CHECK(shrunk->tls->at("kv-1.pem") == kv1);
}

TEST_CASE("credentials: a certificate is renewed before it expires, or when it is not right") {
  const ChorusCluster c = kv();
  ObservedSecrets s = issued_for(c, 3);
  const CertPolicy policy;  // 365 days, renewed 30 days before

  // 340 days on: kv-0..2 all have 25 days left.
  CredentialPlan late = plan_credentials(c, 3, s, now_s() + 340 * kDayS, policy);
  CHECK(late.issue == std::vector<int>{0, 1, 2});
  CHECK(late.reasons[0].find("expires in 2") != std::string::npos);
  CHECK(plan_credentials(c, 3, s, now_s() + 300 * kDayS, policy).issue.empty());

  // One pod's certificate replaced by a short one, one by another pod's, one key lost.
  security::PemPair ca{s.ca->at("ca.pem"), s.ca->at("ca-key.pem")};
  auto short_lived = security::issue_certificate(ca, "kv-0", {}, 1);
  REQUIRE(short_lived.ok());
  (*s.tls)["kv-0.pem"] = short_lived->cert;
  (*s.tls)["kv-1.pem"] = (*s.tls)["kv-2.pem"];
  s.tls->erase("kv-2-key.pem");
  CredentialPlan broken = plan_credentials(c, 3, s, now_s(), policy);
  CHECK(broken.issue == std::vector<int>{0, 1, 2});
  auto fixed = issue_credentials(c, 3, broken, s, policy);
  REQUIRE(fixed.ok());
  s.tls = fixed->tls;
  CHECK(plan_credentials(c, 3, s, now_s(), policy).empty());
  auto info = security::read_certificate(s.tls->at("kv-1.pem"));
  REQUIRE(info.ok());
  CHECK(info->common_name == "kv-1");

  // A lost CA means a new one, and every certificate from it.
  s.ca.reset();
  CredentialPlan new_ca = plan_credentials(c, 3, s, now_s(), policy);
  CHECK(new_ca.create_ca);
  CHECK(new_ca.issue == std::vector<int>{0, 1, 2});
}

TEST_CASE("credentials: the operator keeps its own ACL entry and leaves the others alone") {
  const ChorusCluster c = kv();
  ObservedSecrets s = issued_for(c, 3);
  const std::string token = s.admin->at("token");

  // A user adds an application token.
  json acl = json::parse(s.acl->at("acl.json"));
  acl["tokens"].push_back(
      {{"name", "app"}, {"secret_sha256", std::string(64, 'a')}, {"rules", json::array()}});
  (*s.acl)["acl.json"] = acl.dump();
  CHECK(plan_credentials(c, 3, s, now_s(), CertPolicy{}).empty());

  // ... and by mistake removes the operator's: it is put back, the user's stays.
  acl["tokens"].erase(acl["tokens"].begin());
  (*s.acl)["acl.json"] = acl.dump();
  CredentialPlan plan = plan_credentials(c, 3, s, now_s(), CertPolicy{});
  CHECK(plan.write_acl);
  CHECK_FALSE(plan.create_admin);
  auto issued = issue_credentials(c, 3, plan, s, CertPolicy{});
  REQUIRE(issued.ok());
  const json written = json::parse(issued->acl->at("acl.json"));
  REQUIRE(written["tokens"].size() == 2);
  CHECK(written["tokens"][0]["name"] == "app");
  CHECK(written["tokens"][1]["secret_sha256"] == security::to_hex(security::sha256(token)));

  // The token Secret lost: a new token, and the entry follows it.
  s.acl = issued->acl;
  s.admin.reset();
  CredentialPlan again = plan_credentials(c, 3, s, now_s(), CertPolicy{});
  CHECK(again.create_admin);
  CHECK(again.write_acl);
  auto renewed = issue_credentials(c, 3, again, s, CertPolicy{});
  REQUIRE(renewed.ok());
  const std::string new_token = renewed->admin->at("token");
  CHECK(new_token != token);
  const json after = json::parse(renewed->acl->at("acl.json"));
  CHECK(after["tokens"].size() == 2);
  CHECK(after["tokens"][1]["secret_sha256"] == security::to_hex(security::sha256(new_token)));

  // An ACL that is not an ACL is reported, not overwritten.
  CHECK_FALSE(acl_with_operator_entry(std::string("[1, 2]"), token).ok());
}

TEST_CASE("credentials: Secrets round-trip through base64 and carry the owner reference") {
  const ChorusCluster c = kv();
  const SecretData data = {{"a", std::string("\0\x01\xff", 3)}, {"b.pem", "text\n"}};
  const json secret = secret_object(c, "kv-x", data);
  CHECK(secret["kind"] == "Secret");
  CHECK(secret["metadata"]["ownerReferences"][0]["uid"] == "u-1");
  CHECK(secret["data"]["b.pem"] == "dGV4dAo=");
  auto back = secret_data(secret);
  REQUIRE(back.ok());
  CHECK(*back == data);
  CHECK_FALSE(secret_data(json{{"data", {{"a", "not base64!"}}}}).ok());

  const auto names = pod_dns_names(c, 2);
  CHECK(names.front() == "kv-2.kv-peers.prod.svc.cluster.local");
  CHECK(std::find(names.begin(), names.end(), "kv.prod.svc") != names.end());
}

}  // namespace
}  // namespace chorus::op
