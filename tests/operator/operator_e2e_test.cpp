// The operator end to end, without Kubernetes: the real chorus-operator process against
// FakeApiServer, with StatefulSetSim running real chorusd processes as the pods (issue 5).
//
// One scenario, in the order an operator's life goes: create a ChorusCluster; scale 3 -> 5 under
// continuous writes with injected 409s and 5xx; the watch history compacted (410, relist); the
// API token rotated; scale 5 -> 3 with the operator killed -9 mid-decommission and a second
// instance taking the Lease over; every acknowledged write readable; then a rolling upgrade
// with the cluster answering every request throughout. Security is on throughout, from the
// Secrets the operator generates: the pods serve HTTPS only, with the ACL, the gossip key and
// internode mutual TLS; clients use the CA and the admin token from those Secrets (as a user
// would with kubectl get secret); a certificate near its expiry is renewed under load.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "core/text.h"
#include "security/cert_issuer.h"
#include "tests/operator/fake_apiserver.h"
#include "tests/operator/statefulset_sim.h"
#include "tests/testkit/client.h"
#include "tests/testkit/process.h"

namespace chorus::testkit {
namespace {

using nlohmann::json;

constexpr const char* kNs = "chorus";
constexpr const char* kName = "chorus";
constexpr int kPhaseTimeoutMs = 240'000;

const std::string kClusterPath =
    std::string("/apis/chorus.io/v1alpha1/namespaces/") + kNs + "/chorusclusters/" + kName;
const std::string kStsPath =
    std::string("/apis/apps/v1/namespaces/") + kNs + "/statefulsets/" + kName;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// What an application of the cluster holds: the CA its certificates chain to and a token.
struct Access {
  std::string cacert;  // a PEM file
  std::string token;
};
// A client of one pod ("https://127.x.y.z:8080"), verifying its certificate for the client
// Service's name: what an application that resolved the Service to this pod sees.
KvClient client_of(const std::string& url, const Access& access) {
  const std::string hostport = url.substr(url.find("://") + 3);
  ClientOptions options;
  options.cacert = access.cacert;
  options.token = access.token;
  options.tls_name = std::string(kName) + "." + kNs + ".svc.cluster.local";
  return KvClient::from_address(hostport, options);
}

// The certificate a pod's HTTPS port presents (PEM), unverified; empty if no handshake.
std::string served_certificate(const std::string& ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string pem;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      X509* cert = SSL_get1_peer_certificate(ssl);
      BIO* bio = BIO_new(BIO_s_mem());
      if (cert != nullptr && PEM_write_bio_X509(bio, cert) == 1) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        pem.assign(data, static_cast<size_t>(n));
      }
      BIO_free(bio);
      X509_free(cert);
      SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  ::close(fd);
  return pem;
}

// One key of a Secret in the fake API server, decoded; empty when absent.
std::string secret_value(FakeApiServer& api, const std::string& secret, const std::string& key) {
  auto object = api.get(std::string("/api/v1/namespaces/") + kNs + "/secrets/" + secret);
  if (!object || !(*object)["data"].contains(key)) return "";
  auto bytes = base64_decode((*object)["data"][key].get<std::string>());
  return bytes.ok() ? *bytes : "";
}

// Clients send each request to a ready pod (the client Service's endpoints), and try another
// ready pod when one fails: what a client of a Service with retries sees.
class Workload {
 public:
  Workload(StatefulSetSim* sim, Access access, std::string prefix)
      : sim_(sim), access_(std::move(access)), prefix_(std::move(prefix)) {}
  ~Workload() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::map<std::string, std::string> acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  int unanswered() const { return unanswered_; }
  int stale_reads() const { return stale_reads_; }
  int operations() const { return operations_; }
  // Failed attempts (each retried on another pod) by kind: "PUT 503 unavailable", ...
  std::map<std::string, int> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void run() {
    std::mt19937 rng(static_cast<unsigned>(::getpid()));
    for (int seq = 0; !stop_; ++seq) {
      const std::string key = prefix_ + std::to_string(seq);
      const std::string value = "v" + std::to_string(seq);
      if (attempt(rng, [&](KvClient& c) {
            WriteReply r = c.put(key, value, "quorum");
            if (!r.ok()) note_failure("PUT", r.http_status, r.error, c);
            return r.ok();
          })) {
        std::lock_guard<std::mutex> lock(mu_);
        acked_[key] = value;
      } else {
        ++unanswered_;
      }
      // Read back an earlier acknowledged write through some (other) node.
      if (seq > 0) {
        const std::string old_key = prefix_ + std::to_string(rng() % seq);
        std::string expected;
        {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = acked_.find(old_key);
          if (it != acked_.end()) expected = it->second;
        }
        if (!expected.empty()) {
          bool stale = false;
          const bool answered = attempt(rng, [&](KvClient& c) {
            ReadReply r = c.get(old_key, "quorum");
            if (r.ok() && r.value != expected) stale = true;
            if (!r.ok() && !r.not_found()) note_failure("GET", r.http_status, r.error, c);
            return r.ok() || r.not_found();
          });
          if (!answered) ++unanswered_;
          if (stale) ++stale_reads_;
        }
      }
      operations_ += 2;
      // Pacing, not synchronisation: a steady load that leaves the 2 cores to the nodes.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void note_failure(const char* op, int status, const std::string& error, const KvClient& c) {
    std::lock_guard<std::mutex> lock(mu_);
    ++failures_[std::string(op) + " " + std::to_string(status) + " " + error];
    (void)c;
  }

  template <typename Op>
  bool attempt(std::mt19937& rng, Op op) {
    for (int tries = 0; tries < 4; ++tries) {
      // An application's retry policy, not synchronisation: a 503 while a member leaves is a
      // correct transient answer, so back off before asking another pod (0, 100, 200, 300 ms).
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * tries));
      const std::vector<std::string> urls = sim_->ready_urls();
      if (urls.empty()) {
        note_failure("no ready pod", 0, "", KvClient("127.0.0.1", 1));
        continue;
      }
      KvClient c = client_of(urls[rng() % urls.size()], access_);
      if (op(c)) return true;
    }
    return false;
  }

  StatefulSetSim* sim_;
  const Access access_;
  const std::string prefix_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, std::string> acked_;
  std::map<std::string, int> failures_;
  std::atomic<int> unanswered_{0};
  std::atomic<int> stale_reads_{0};
  std::atomic<int> operations_{0};
};

class OperatorE2E {
 public:
  OperatorE2E() {
    char templ[] = "/tmp/chorus-operator-e2e-XXXXXX";
    REQUIRE(::mkdtemp(templ) != nullptr);
    root_ = templ;
    REQUIRE(api_.start().ok());
    api_.set_tokens({"token-1"});
    write_file(root_ + "/token", "token-1\n");
    write_file(root_ + "/kubeconfig",
               "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
               "clusters:\n- name: fake\n  cluster:\n    server: " +
                   api_.url() +
                   "\n"
                   "users:\n- name: operator\n  user:\n    tokenFile: token\n"
                   "contexts:\n- name: test\n  context:\n    cluster: fake\n    user: operator\n"
                   "    namespace: chorus\n");
    StatefulSetSimOptions options;
    options.chorusd = env("CHORUSD");
    options.root = root_ + "/pods";
    std::mt19937 rng(static_cast<unsigned>(::getpid() ^ std::time(nullptr)));
    options.block_x = 100 + static_cast<int>(rng() % 150);
    options.block_y = static_cast<int>(rng() % 250);
    sim_ = std::make_unique<StatefulSetSim>(&api_, options);
    REQUIRE(sim_->start().ok());
  }

  ~OperatorE2E() {
    if (operator_) {
      (void)operator_->kill(SIGTERM);
      if (!operator_->wait_exit(10'000)) (void)operator_->kill(SIGKILL);
    }
    sim_->stop();
    api_.stop();
    if (std::uncaught_exceptions() > 0) {
      failed_ = true;
      std::fprintf(stderr, "--- operator log ---\n%s\n", read_file(operator_log()).c_str());
    }
    if (env("CHORUS_KEEP_DATA").empty() && !failed_) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    } else {
      std::fprintf(stderr, "operator e2e data kept in %s\n", root_.c_str());
    }
  }

  void start_operator(const std::string& identity) {
    auto p =
        Process::start(env("CHORUS_OPERATOR"),
                       {"--kubeconfig", root_ + "/kubeconfig", "--identity", identity,
                        "--lease-duration-s", "4", "--renew-deadline-s", "3", "--retry-period-s",
                        "1", "--resync-s", "2", "--watch-timeout-s", "30", "--log-level", "debug"},
                       operator_log());
    REQUIRE(p.ok());
    operator_ = std::move(*p);
  }

  std::string operator_log() const { return root_ + "/operator.log"; }

  // Chorus's view from any ready pod.
  json cluster_view() {
    for (const std::string& url : sim_->ready_urls()) {
      JsonReply r = client_of(url, access_).get_json("/v1/cluster");
      if (r.http_status == 200 && r.json.value("formed", false)) return r.json;
    }
    return json();
  }

  // n members chorus-0..n-1, all alive and active, no transition, the StatefulSet at n, every
  // pod ready, and the operator reporting it as idle.
  bool settled_at(int n, const std::string& image) {
    const json view = cluster_view();
    if (!view.is_object() || !view["transition"].is_null()) return false;
    if (static_cast<int>(view["members"].size()) != n) return false;
    for (const json& m : view["members"]) {
      if (m.value("gossip", "") != "alive" || m.value("status", "") != "active") return false;
    }
    auto sts = api_.get(kStsPath);
    if (!sts || (*sts)["spec"].value("replicas", 0) != n) return false;
    if ((*sts)["spec"]["template"]["spec"]["containers"][0].value("image", "") != image)
      return false;
    int ready = 0;
    for (const json& pod : api_.list(std::string("/api/v1/namespaces/") + kNs + "/pods")) {
      if (pod["spec"]["containers"][0].value("image", "") != image) return false;
      ready += pod["status"]["conditions"][0].value("status", "") == "True";
    }
    if (ready != n) return false;
    auto cr = api_.get(kClusterPath);
    const json status = cr ? cr->value("status", json::object()) : json::object();
    return status.value("readyMembers", 0) == n && status.value("currentOperation", "") == "Idle";
  }

  void wait_settled(int n, const std::string& image, const char* phase) {
    const bool ok = poll_until(
        kPhaseTimeoutMs, [&] { return settled_at(n, image); }, 250);
    if (!ok) {
      failed_ = true;
      std::fprintf(stderr, "--- operator log ---\n%s\n", read_file(operator_log()).c_str());
      auto cr = api_.get(kClusterPath);
      std::fprintf(stderr, "--- ChorusCluster ---\n%s\n--- view ---\n%s\n",
                   cr ? cr->dump(2).c_str() : "(none)", cluster_view().dump(2).c_str());
    }
    INFO(phase);
    REQUIRE(ok);
  }

  // The CA and admin token from the operator's Secrets, once they exist (kubectl get secret).
  void wait_for_secrets() {
    const bool made = poll_until(kPhaseTimeoutMs, [&] {
      return !secret_value(api_, "chorus-tls", "ca.pem").empty() &&
             !secret_value(api_, "chorus-admin", "token").empty();
    });
    REQUIRE(made);
    access_.cacert = root_ + "/ca.pem";
    write_file(access_.cacert, secret_value(api_, "chorus-tls", "ca.pem"));
    access_.token = secret_value(api_, "chorus-admin", "token");
  }

  FakeApiServer api_;
  Access access_;
  std::unique_ptr<StatefulSetSim> sim_;
  std::unique_ptr<Process> operator_;
  std::string root_;
  bool failed_ = false;
};

json cluster_object(int replicas, const std::string& image) {
  return {{"apiVersion", "chorus.io/v1alpha1"},
          {"kind", "ChorusCluster"},
          {"metadata", {{"name", kName}, {"namespace", kNs}}},
          {"spec",
           {{"replicas", replicas},
            {"image", image},
            {"engine", "rocksdb"},
            {"replicationFactor", 3},
            {"readQuorum", 2},
            {"writeQuorum", 2}}}};
}

std::optional<std::string> lease_holder(FakeApiServer& api) {
  auto lease = api.get(std::string("/apis/coordination.k8s.io/v1/namespaces/") + kNs +
                       "/leases/chorus-operator");
  if (!lease) return std::nullopt;
  return (*lease)["spec"].value("holderIdentity", "");
}

TEST_CASE("operator e2e: create then scale 3 to 5 to 3 under writes then a rolling upgrade",
          "[operator][e2e]") {
  if (env("CHORUSD").empty() || env("CHORUS_OPERATOR").empty()) {
    FAIL("CHORUSD and CHORUS_OPERATOR must name the binaries");
  }
  OperatorE2E t;
  t.api_.put(kClusterPath, cluster_object(3, "chorus:1.0"));
  t.start_operator("operator-a");
  t.wait_for_secrets();

  // Created: owned objects with owner references, three members bootstrapped, status reported.
  t.wait_settled(3, "chorus:1.0", "create");
  const std::string uid = (*t.api_.get(kClusterPath))["metadata"]["uid"];
  for (const std::string& path :
       {kStsPath, std::string("/api/v1/namespaces/chorus/services/chorus"),
        std::string("/api/v1/namespaces/chorus/services/chorus-peers"),
        std::string("/apis/policy/v1/namespaces/chorus/poddisruptionbudgets/chorus"),
        std::string("/apis/networking.k8s.io/v1/namespaces/chorus/networkpolicies/chorus"),
        std::string("/api/v1/namespaces/chorus/secrets/chorus-ca"),
        std::string("/api/v1/namespaces/chorus/secrets/chorus-tls"),
        std::string("/api/v1/namespaces/chorus/secrets/chorus-gossip"),
        std::string("/api/v1/namespaces/chorus/secrets/chorus-acl"),
        std::string("/api/v1/namespaces/chorus/secrets/chorus-admin")}) {
    auto object = t.api_.get(path);
    INFO(path);
    REQUIRE(object);
    CHECK((*object)["metadata"]["ownerReferences"][0].value("uid", "") == uid);
    CHECK((*object)["metadata"]["ownerReferences"][0].value("controller", false));
  }
  CHECK(lease_holder(t.api_) == std::string("operator-a"));
  {
    const json status = (*t.api_.get(kClusterPath))["status"];
    CHECK(status.value("epoch", 0) > 0);
    CHECK(status["conditions"][0].value("type", "") == "Available");
    CHECK(status["conditions"][0].value("status", "") == "True");
  }

  // Secure: each pod presents its own certificate (CN = pod name) from the cluster CA, the API
  // answers nothing without a token and nothing over plain HTTP, and the pods run without
  // --insecure.
  for (int i = 0; i < 3; ++i) {
    const std::string ip = t.sim_->pod_ip(i);
    auto served = security::read_certificate(served_certificate(ip, 8080));
    REQUIRE(served.ok());
    CHECK(served->common_name == "chorus-" + std::to_string(i));
    CHECK(served_certificate(ip, 8080) ==
          secret_value(t.api_, "chorus-tls", "chorus-" + std::to_string(i) + ".pem"));
    Access no_token = t.access_;
    no_token.token.clear();
    CHECK(client_of("https://" + ip + ":8080", no_token).get("k0").http_status == 401);
    CHECK(client_of("https://" + ip + ":8080", t.access_).get("k0").http_status == 404);
    CHECK(client_of("http://" + ip + ":8080", Access{}).get("k0").http_status == 0);
  }
  {
    const auto args = (*t.api_.get(kStsPath))["spec"]["template"]["spec"]["containers"][0]["args"]
                          .get<std::vector<std::string>>();
    CHECK(std::find(args.begin(), args.end(), "--insecure") == args.end());
  }

  Workload writes(t.sim_.get(), t.access_, "k");
  writes.start();

  // Renewal under load: chorus-1's certificate is replaced by one that expires tomorrow (issued
  // by the cluster CA, as an old one would be). The operator issues a fresh one into the Secret
  // and the pod serves it without a restart.
  {
    const security::PemPair ca{secret_value(t.api_, "chorus-ca", "ca.pem"),
                               secret_value(t.api_, "chorus-ca", "ca-key.pem")};
    auto expiring = security::issue_certificate(ca, "chorus-1", {}, 1);
    REQUIRE(expiring.ok());
    const std::string secret_path = "/api/v1/namespaces/chorus/secrets/chorus-tls";
    REQUIRE(t.api_
                .patch(secret_path, {{"data",
                                      {{"chorus-1.pem", base64_encode(expiring->cert)},
                                       {"chorus-1-key.pem", base64_encode(expiring->key)}}}})
                .ok());
    const int restarts_before = t.sim_->restarts();
    const bool renewed = poll_until(kPhaseTimeoutMs, [&] {
      auto info = security::read_certificate(secret_value(t.api_, "chorus-tls", "chorus-1.pem"));
      return info.ok() && info->not_after_unix_s > std::time(nullptr) + 300 * 86'400;
    });
    REQUIRE(renewed);
    const std::string fresh = secret_value(t.api_, "chorus-tls", "chorus-1.pem");
    const bool served = poll_until(
        kPhaseTimeoutMs, [&] { return served_certificate(t.sim_->pod_ip(1), 8080) == fresh; });
    CHECK(served);
    CHECK(t.sim_->restarts() == restarts_before);
    CHECK(read_file(t.operator_log())
              .find("issuing the certificate of chorus-1 (expires in 0 days)") !=
          std::string::npos);
  }

  // Scale up under conflicts and API errors.
  t.api_.fail_next("PUT", "/statefulsets/", 409, 2);
  t.api_.fail_next("GET", "/pods", 500, 2);
  REQUIRE(t.api_.patch(kClusterPath, {{"spec", {{"replicas", 5}}}}).ok());
  t.wait_settled(5, "chorus:1.0", "scale up to 5");
  CHECK(t.api_.served("PUT 409") >= 2);
  CHECK(t.api_.served("GET 500") >= 2);

  // Other objects change, then the API server forgets the watch history: the operator's
  // version is older than anything it keeps, so its next watch gets 410 and it lists again.
  t.api_.put("/api/v1/namespaces/chorus/configmaps/unrelated", {{"data", {{"k", "v"}}}});
  t.api_.compact();
  const bool gone = poll_until(30'000, [&] { return t.api_.served("WATCH 410") >= 1; });
  INFO("watches: " << t.api_.served("WATCH 200") << " started, " << t.api_.served("WATCH END")
                   << " ended");
  REQUIRE(gone);
  // The service account token rotates; the old one stops working.
  write_file(t.root_ + "/token", "token-2\n");
  t.api_.set_tokens({"token-2"});

  // Scale down; the operator dies (kill -9) while chorus-4 streams its data away, and a second
  // operator takes the Lease over and finishes the job.
  REQUIRE(t.api_.patch(kClusterPath, {{"spec", {{"replicas", 3}}}}).ok());
  const bool leaving = poll_until(
      kPhaseTimeoutMs,
      [&] {
        const json view = t.cluster_view();
        if (!view.is_object()) return false;
        for (const json& m : view["members"]) {
          if (m.value("id", "") == "chorus-4" && m.value("status", "") == "leaving") return true;
        }
        return false;
      },
      100);
  REQUIRE(leaving);
  REQUIRE(t.operator_->kill(SIGKILL).ok());
  t.operator_->wait_exit(5'000);
  t.start_operator("operator-b");
  t.wait_settled(3, "chorus:1.0", "scale down to 3");
  CHECK(lease_holder(t.api_) == std::string("operator-b"));
  CHECK(t.api_.requests_with_token("token-2") > 0);
  CHECK(read_file(t.operator_log()).find("listing again") != std::string::npos);

  writes.stop();
  const auto acked = writes.acked();
  std::printf(
      "scale 3->5->3: %d operations, %zu writes acknowledged, %d unanswered, %d stale reads,"
      " %d container restarts, %d failed readiness probes\n",
      writes.operations(), acked.size(), writes.unanswered(), writes.stale_reads(),
      t.sim_->restarts(), t.sim_->probe_failures());
  for (const auto& [what, n] : writes.failures())
    std::printf("  failed attempts: %d x %s\n", n, what.c_str());
  REQUIRE(acked.size() > 100);
  CHECK(writes.stale_reads() == 0);
  // Retried on another ready pod, every request was answered.
  CHECK(writes.unanswered() == 0);
  int lost = 0;
  for (const auto& [key, value] : acked) {
    bool found = false;
    for (const std::string& url : t.sim_->ready_urls()) {
      ReadReply r = client_of(url, t.access_).get(key, "quorum");
      if (r.ok()) {
        found = r.value == value;
        break;
      }
    }
    if (!found) ++lost;
  }
  CHECK(lost == 0);

  // Rolling upgrade with the cluster answering throughout.
  Workload during_upgrade(t.sim_.get(), t.access_, "u");
  during_upgrade.start();
  REQUIRE(t.api_.patch(kClusterPath, {{"spec", {{"image", "chorus:1.1"}}}}).ok());
  t.wait_settled(3, "chorus:1.1", "rolling upgrade to chorus:1.1");
  during_upgrade.stop();
  std::printf("rolling upgrade: %d operations, %d unanswered, %d stale reads\n",
              during_upgrade.operations(), during_upgrade.unanswered(),
              during_upgrade.stale_reads());
  for (const auto& [what, n] : during_upgrade.failures()) {
    std::printf("  failed attempts: %d x %s\n", n, what.c_str());
  }
  CHECK(during_upgrade.operations() > 50);
  CHECK(during_upgrade.unanswered() == 0);
  CHECK(during_upgrade.stale_reads() == 0);
}

}  // namespace
}  // namespace chorus::testkit
