// Security against real processes (DESIGN.md §10): the attack table of the HTTP API's access
// control (every row asserted), ACL rotation by SIGHUP under load, and sealed gossip: rogue nodes
// without the keyring are never admitted, forged and replayed datagrams are dropped and counted.
//
// Not yet here (issue 11, next steps): TLS/mTLS rows (rogue with another CA, a valid certificate
// claiming another id, plain HTTP to an HTTPS port), protected mode, the TLS handshake flood.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "security/acl.h"
#include "security/gossip_seal.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/unit/temp_dir.h"

using namespace chorus::testkit;
namespace security = chorus::security;

namespace {

constexpr const char* kAdmin = "admin-token-for-tests";
constexpr const char* kScrape = "scrape-token-for-tests";
constexpr const char* kReader = "reader-token-for-tests";
constexpr const char* kApp = "app-token-for-tests";
constexpr const char* kApp2 = "app2-token-for-tests";
constexpr int kPollTimeoutMs = 20'000;

std::string entry(const std::string& name, const std::string& secret, const std::string& rest) {
  return R"({"name": ")" + name + R"(", "secret_sha256": ")" +
         security::to_hex(security::sha256(secret)) + "\"" + rest + "}";
}

// The policy of these tests; `with_reader` / `with_app2` toggle the tokens rotation adds and drops.
std::string acl_json(bool with_reader, bool with_app2) {
  std::string tokens =
      entry("admin", kAdmin, R"(, "admin": true)") + ",\n" +
      entry("scrape", kScrape, R"(, "metrics": true)") + ",\n" +
      entry("app", kApp, R"(, "rules": [{"prefix": "app/", "allow": ["read", "write"]}])");
  if (with_reader) {
    tokens += ",\n" + entry("reader", kReader, R"(, "rules": [{"prefix": "", "allow": ["read"]}])");
  }
  if (with_app2) {
    tokens +=
        ",\n" + entry("app2", kApp2, R"(, "rules": [{"prefix": "app/", "allow": ["write"]}])");
  }
  return "{\"tokens\": [\n" + tokens + "]}\n";
}

httplib::Client http_client(const NodeAddress& node, const std::string& token = "") {
  httplib::Client c(node.host, node.http_port);
  c.set_tcp_nodelay(true);
  c.set_read_timeout(10, 0);
  if (!token.empty()) c.set_bearer_token_auth(token.c_str());
  return c;
}

int status_of(const httplib::Result& r) {
  return r ? r->status : 0;
}

std::string error_of(const httplib::Result& r) {
  if (!r) return "<no response>";
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_object() ? j.value("error", "") : "<not json: " + r->body + ">";
}

// One series ("name{labels}") of node i's /metrics, scraped with the admin token; 0 when absent.
double series(const LocalCluster& cluster, int i, const std::string& name_and_labels) {
  httplib::Client c = http_client(cluster.node(i), kAdmin);
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return -1;
  const std::string& body = r->body;
  size_t pos = 0;
  while ((pos = body.find(name_and_labels + " ", pos)) != std::string::npos) {
    if (pos == 0 || body[pos - 1] == '\n') {
      const size_t value = pos + name_and_labels.size() + 1;
      return std::stod(body.substr(value, body.find('\n', value) - value));
    }
    pos += name_and_labels.size();
  }
  return 0;
}

std::string refusals(const char* reason) {
  return std::string("chorus_security_refusals_total{reason=\"") + reason + "\"}";
}

void send_udp(const NodeAddress& to, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(to.peer_port));
  ::inet_pton(AF_INET, to.host.c_str(), &addr.sin_addr);
  const ssize_t sent =
      ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(fd);
  REQUIRE(sent == static_cast<ssize_t>(bytes.size()));
}

bool is_member(const LocalCluster& cluster, int asked, const std::string& id) {
  httplib::Client c = http_client(cluster.node(asked), kAdmin);
  auto r = c.Get("/v1/cluster");
  if (!r || r->status != 200) return false;
  const auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("members")) return false;
  for (const auto& m : j["members"]) {
    if (m.value("id", "") == id) return true;
  }
  return false;
}

struct SecureFiles {
  chorus::test::TempDir dir{"chorus-security"};
  std::string acl = dir.file("acl.json");
  std::string key = dir.file("gossip.key");
  std::string other_key = dir.file("other.key");
  SecureFiles() {
    write_file(acl, acl_json(/*with_reader=*/true, /*with_app2=*/false));
    write_file(key, security::GossipKeyring::generate_key() + "\n");
    write_file(other_key, security::GossipKeyring::generate_key() + "\n");
  }
  std::vector<std::string> args() const { return {"--acl-file=" + acl, "--gossip-key=" + key}; }
};

}  // namespace

TEST_CASE("security: the HTTP API refuses every request its ACL does not allow", "[cluster]") {
  SecureFiles files;
  ClusterOptions options;
  options.extra_args = files.args();
  LocalCluster cluster(options);
  start_or_fail(cluster);
  const NodeAddress& n1 = cluster.node(1);
  const std::string body = R"({"value": "v"})";

  httplib::Client anonymous = http_client(n1);
  httplib::Client wrong = http_client(n1, "not-a-token");
  httplib::Client admin = http_client(n1, kAdmin);
  httplib::Client scrape = http_client(n1, kScrape);
  httplib::Client reader = http_client(n1, kReader);
  httplib::Client app = http_client(n1, kApp);

  SECTION("no token or an unknown token: 401 on every guarded route") {
    for (httplib::Client* c : {&anonymous, &wrong}) {
      auto r = c->Put("/v1/kv/app/x", body, "application/json");
      CHECK(status_of(r) == 401);
      CHECK(error_of(r) == "unauthenticated");
      REQUIRE(r);
      CHECK(r->get_header_value("WWW-Authenticate") == "Bearer");
      CHECK(status_of(c->Get("/v1/kv/app/x")) == 401);
      CHECK(status_of(c->Delete("/v1/kv/app/x")) == 401);
      CHECK(status_of(c->Get("/v1/cluster")) == 401);
      CHECK(status_of(c->Get("/metrics")) == 401);
      CHECK(status_of(c->Post("/v1/admin/repair", "", "application/json")) == 401);
      CHECK(status_of(c->Post("/v1/cluster/nodes/n3/decommission", "", "application/json")) == 401);
      CHECK(status_of(c->Get("/v1/debug/local/app%2Fx")) == 401);
    }
    // A basic-auth header is no bearer token.
    httplib::Client basic = http_client(n1);
    basic.set_basic_auth("admin", kAdmin);
    CHECK(status_of(basic.Get("/v1/cluster")) == 401);
  }

  SECTION("probes stay open") {
    CHECK(status_of(anonymous.Get("/v1/health")) == 200);
    CHECK(status_of(anonymous.Get("/v1/ready")) == 200);
  }

  SECTION("key rules: read-only, prefix-bound, admin") {
    auto put = app.Put("/v1/kv/app/x", body, "application/json");
    REQUIRE(status_of(put) == 200);
    auto got = app.Get("/v1/kv/app/x");
    REQUIRE(status_of(got) == 200);
    CHECK(nlohmann::json::parse(got->body).value("value", "") == "v");
    CHECK(status_of(reader.Get("/v1/kv/app/x")) == 200);

    auto r = reader.Put("/v1/kv/app/x", body, "application/json");
    CHECK(status_of(r) == 403);
    CHECK(error_of(r) == "forbidden");
    CHECK(status_of(reader.Delete("/v1/kv/app/x")) == 403);
    CHECK(status_of(app.Put("/v1/kv/other/x", body, "application/json")) == 403);
    CHECK(status_of(app.Get("/v1/kv/other/x")) == 403);
    CHECK(status_of(app.Get("/v1/kv/ap")) == 403);
    // The rule applies to the decoded key: %2F is the same '/' as a raw one.
    CHECK(status_of(app.Get("/v1/kv/app%2Fx")) == 200);
    CHECK(status_of(scrape.Get("/v1/kv/app/x")) == 403);
    CHECK(status_of(admin.Put("/v1/kv/other/x", body, "application/json")) == 200);
    CHECK(status_of(admin.Get("/v1/kv/other/x")) == 200);
    // The reader's failed write changed nothing.
    CHECK(nlohmann::json::parse(app.Get("/v1/kv/app/x")->body).value("value", "") == "v");
  }

  SECTION("cluster changes, repair, debug and metrics need admin (or metrics)") {
    for (httplib::Client* c : {&reader, &app, &scrape}) {
      CHECK(status_of(c->Post("/v1/cluster/nodes/n3/decommission", "", "application/json")) == 403);
      CHECK(status_of(c->Post("/v1/cluster/nodes/n3/remove", "", "application/json")) == 403);
      CHECK(status_of(c->Post("/v1/cluster/join", "{}", "application/json")) == 403);
      CHECK(status_of(c->Post("/v1/admin/repair", "", "application/json")) == 403);
      CHECK(status_of(c->Get("/v1/admin/repair")) == 403);
      CHECK(status_of(c->Get("/v1/debug/local/app%2Fx")) == 403);
      CHECK(status_of(c->Get("/v1/debug/owners/app%2Fx")) == 403);
      CHECK(status_of(c->Get("/v1/cluster")) == 403);
    }
    CHECK(status_of(reader.Get("/metrics")) == 403);
    CHECK(status_of(app.Get("/metrics")) == 403);
    CHECK(status_of(scrape.Get("/metrics")) == 200);
    CHECK(status_of(admin.Get("/metrics")) == 200);
    CHECK(status_of(admin.Get("/v1/cluster")) == 200);
    CHECK(status_of(admin.Get("/v1/admin/repair")) == 200);
    // Nothing was decommissioned by the refused calls.
    CHECK(is_member(cluster, 1, "n3"));
  }

  SECTION("refusals are counted, and no secret reaches the log") {
    const double forbidden = series(cluster, 1, refusals("http_forbidden"));
    const double unauthenticated = series(cluster, 1, refusals("http_unauthenticated"));
    CHECK(status_of(app.Get("/v1/cluster")) == 403);
    CHECK(status_of(wrong.Get("/v1/cluster")) == 401);
    CHECK(series(cluster, 1, refusals("http_forbidden")) == forbidden + 1);
    CHECK(series(cluster, 1, refusals("http_unauthenticated")) == unauthenticated + 1);
    std::ifstream log(cluster.log_path(1));
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    CHECK(text.find(kApp) == std::string::npos);
    CHECK(text.find("not-a-token") == std::string::npos);
  }
}

TEST_CASE("security: ACL rotation by SIGHUP under load fails no request", "[cluster]") {
  SecureFiles files;
  ClusterOptions options;
  options.extra_args = files.args();
  LocalCluster cluster(options);
  start_or_fail(cluster);

  // Load with the token that stays valid through both rotations, through every node.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::thread load([&] {
    std::vector<KvClient> clients;
    ClientOptions client_options;
    client_options.token = kApp;
    for (int i = 1; i <= cluster.size(); ++i) {
      clients.emplace_back(cluster.node(i).host, cluster.node(i).http_port, client_options);
    }
    for (int n = 0; !stop && n < 200'000; ++n) {
      KvClient& c = clients[n % clients.size()];
      const std::string key = "app/rotate-" + std::to_string(n % 100);
      const bool good = n % 2 == 0 ? c.put(key, "v" + std::to_string(n)).http_status == 200
                                   : c.get(key).http_status / 100 != 5;
      if (good) {
        ++ok;
      } else if (failed++ == 0) {
        first_failure = "request " + std::to_string(n) + " to " + c.host();
      }
    }
  });
  const auto all_nodes_answer = [&](const char* token, int status) {
    for (int i = 1; i <= cluster.size(); ++i) {
      httplib::Client c = http_client(cluster.node(i), token);
      if (status_of(c.Put("/v1/kv/app/probe", R"({"value":"p"})", "application/json")) != status) {
        return false;
      }
    }
    return true;
  };
  REQUIRE(all_nodes_answer(kApp2, 401));

  // Rotation 1: add app2. Rotation 2: drop reader.
  write_file(files.acl, acl_json(/*with_reader=*/true, /*with_app2=*/true));
  for (int i = 1; i <= cluster.size(); ++i) REQUIRE(cluster.kill(i, SIGHUP).ok());
  CHECK(poll_until(kPollTimeoutMs, [&] { return all_nodes_answer(kApp2, 200); }));
  write_file(files.acl, acl_json(/*with_reader=*/false, /*with_app2=*/true));
  for (int i = 1; i <= cluster.size(); ++i) REQUIRE(cluster.kill(i, SIGHUP).ok());
  CHECK(poll_until(kPollTimeoutMs, [&] {
    for (int i = 1; i <= cluster.size(); ++i) {
      if (status_of(http_client(cluster.node(i), kReader).Get("/v1/kv/app/probe")) != 401) {
        return false;
      }
    }
    return true;
  }));

  // A broken file on SIGHUP keeps the policy in force and is counted.
  write_file(files.acl, "{ not json");
  REQUIRE(cluster.kill(1, SIGHUP).ok());
  CHECK(poll_until(kPollTimeoutMs, [&] {
    return series(cluster, 1, "chorus_security_reloads_total{result=\"error\"}") >= 1;
  }));
  CHECK(all_nodes_answer(kApp2, 200));

  // Let the load run past the rotations before counting.
  const int ok_at_rotation = ok.load();
  CHECK(poll_until(kPollTimeoutMs, [&] { return ok.load() >= ok_at_rotation + 200; }));
  stop = true;
  load.join();
  INFO("first failure: " << first_failure);
  CHECK(failed.load() == 0);
  CHECK(ok.load() > 200);
  for (int i = 1; i <= cluster.size(); ++i) REQUIRE(cluster.running(i));
}

TEST_CASE("security: sealed gossip admits no rogue node and drops forged and replayed datagrams",
          "[cluster]") {
  SecureFiles files;
  LocalCluster cluster;
  for (int i = 1; i <= 3; ++i) cluster.set_node_args(i, files.args());
  start_or_fail(cluster);
  const NodeAddress& n1 = cluster.node(1);

  SECTION("a node without the key, or with another key, is never admitted") {
    const double unsealed = series(cluster, 1, refusals("gossip_unsealed"));
    const double unauthentic = series(cluster, 1, refusals("gossip_unauthentic"));
    auto no_key = cluster.add_node({"--acl-file=" + files.acl});
    REQUIRE(no_key.ok());
    auto other_key =
        cluster.add_node({"--acl-file=" + files.acl, "--gossip-key=" + files.other_key});
    REQUIRE(other_key.ok());
    // Both keep knocking (join retries to every seed); wait until n1 has refused several
    // datagrams of each, then check that neither got in.
    CHECK(poll_until(kPollTimeoutMs, [&] {
      return series(cluster, 1, refusals("gossip_unsealed")) >= unsealed + 5 &&
             series(cluster, 1, refusals("gossip_unauthentic")) >= unauthentic + 5;
    }));
    for (int asked = 1; asked <= 3; ++asked) {
      CHECK_FALSE(is_member(cluster, asked, "n4"));
      CHECK_FALSE(is_member(cluster, asked, "n5"));
    }
    for (int rogue : {no_key.value(), other_key.value()}) {
      CHECK(status_of(http_client(cluster.node(rogue)).Get("/v1/ready")) == 503);
    }
    // The real members still agree on each other.
    CHECK(is_member(cluster, 1, "n3"));
    CHECK(status_of(
              http_client(n1, kAdmin).Put("/v1/kv/k", R"({"value":"v"})", "application/json")) ==
          200);
  }

  SECTION("forged datagrams are dropped and counted") {
    const double unsealed = series(cluster, 1, refusals("gossip_unsealed"));
    const double unauthentic = series(cluster, 1, refusals("gossip_unauthentic"));
    send_udp(n1, "plain garbage");
    send_udp(n1, std::string(1, static_cast<char>(security::kSealVersion)) +
                     std::string(100, 'x'));  // sealed shape, no valid tag
    security::GossipSealer stranger(std::make_shared<const security::GossipKeyring>(
        security::GossipKeyring::load(files.other_key).value()));
    send_udp(n1, stranger.seal("forged under another key"));
    CHECK(poll_until(kPollTimeoutMs, [&] {
      return series(cluster, 1, refusals("gossip_unsealed")) >= unsealed + 1 &&
             series(cluster, 1, refusals("gossip_unauthentic")) >= unauthentic + 2;
    }));
  }

  SECTION("a replayed datagram is refused") {
    const double replayed = series(cluster, 1, refusals("gossip_replayed"));
    security::GossipSealer insider(std::make_shared<const security::GossipKeyring>(
        security::GossipKeyring::load(files.key).value()));
    const std::string datagram = insider.seal("captured once");
    for (int i = 0; i < 3; ++i) send_udp(n1, datagram);
    CHECK(poll_until(kPollTimeoutMs, [&] {
      return series(cluster, 1, refusals("gossip_replayed")) >= replayed + 2;
    }));
  }
  for (int i = 1; i <= 3; ++i) CHECK(cluster.running(i));
}
