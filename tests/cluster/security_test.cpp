// Security against real processes (DESIGN.md §10), the attack table, every row asserted:
//   - the HTTP API's access control (401/403 by token and rule), ACL rotation by SIGHUP under load;
//   - sealed gossip: rogue nodes without the keyring are never admitted, forged and replayed
//     datagrams are dropped and counted;
//   - internode mutual TLS: a rogue node without TLS or with another CA's certificate is refused
//     at every handshake and receives nothing; a valid certificate for n4 cannot vote, join,
//     relay, write, read or stream in n2's name or as a non-member; a raw TCP client on the peer
//     port gets nothing.
// HTTPS, certificate rotation, the handshake flood and protected mode are in tls_test.cpp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <thread>

#include <httplib.h>
#include <catch2/catch.hpp>

#include <future>

#include "core/coding.h"
#include "core/rpc_methods.h"
#include "membership/cluster_metadata.h"
#include "membership/raft/codec.h"
#include "net/frame.h"
#include "net/transport.h"
#include "replication/messages.h"
#include "replication/partition_stream.h"
#include "ring/partitioner.h"
#include "security/acl.h"
#include "security/cert_issuer.h"
#include "security/gossip_seal.h"
#include "security/tls.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/unit/io_test_util.h"
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

// Node i's API with the admin token (over HTTPS when the cluster has TLS).
KvClient admin_client(const LocalCluster& cluster, int i) {
  ClientOptions options = cluster.client_options();
  options.token = kAdmin;
  return KvClient(cluster.node(i).host, cluster.node(i).http_port, options);
}

// One series ("name{labels}") of node i's /metrics, scraped with the admin token; 0 when absent,
// -1 when unreadable.
double series(const LocalCluster& cluster, int i, const std::string& name_and_labels) {
  JsonReply r = admin_client(cluster, i).get_raw("/metrics");
  if (r.http_status != 200) return -1;
  const std::string& body = r.body;
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

// Whether node `asked` lists `id` as a member; nullopt when its /v1/cluster cannot be read.
std::optional<bool> lists_member(const LocalCluster& cluster, int asked, const std::string& id) {
  JsonReply r = admin_client(cluster, asked).get_json("/v1/cluster");
  if (r.http_status != 200 || !r.json.is_object() || !r.json.contains("members")) {
    return std::nullopt;
  }
  for (const auto& m : r.json["members"]) {
    if (m.value("id", "") == id) return true;
  }
  return false;
}

bool is_member(const LocalCluster& cluster, int asked, const std::string& id) {
  return lists_member(cluster, asked, id).value_or(false);
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

TEST_CASE("security: the HTTP API refuses every request its ACL does not allow",
          "[cluster][own-security]") {
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

TEST_CASE("security: ACL rotation by SIGHUP under load fails no request",
          "[cluster][own-security]") {
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

TEST_CASE("security: with --security-reload-check-s a changed ACL file is reloaded without SIGHUP",
          "[cluster][own-security]") {
  SecureFiles files;
  ClusterOptions options;
  options.nodes = 1;
  options.replicas = 1;
  options.read_quorum = 1;
  options.write_quorum = 1;
  options.extra_args = files.args();
  options.extra_args.push_back("--security-reload-check-s=1");
  LocalCluster cluster(options);
  start_or_fail(cluster);
  const auto app2_status = [&] {
    httplib::Client c = http_client(cluster.node(1), kApp2);
    return status_of(c.Put("/v1/kv/app/watched", R"({"value":"w"})", "application/json"));
  };
  REQUIRE(app2_status() == 401);

  // What Kubernetes does to a mounted Secret: new contents in place, no signal.
  write_file(files.acl, acl_json(/*with_reader=*/true, /*with_app2=*/true));
  CHECK(poll_until(kPollTimeoutMs, [&] { return app2_status() == 200; }));
  CHECK(series(cluster, 1, "chorus_security_reloads_total{result=\"ok\"}") >= 1);

  // A broken file keeps the policy in force and is reported once, not at every check.
  write_file(files.acl, "{ not json");
  CHECK(poll_until(kPollTimeoutMs, [&] {
    return series(cluster, 1, "chorus_security_reloads_total{result=\"error\"}") == 1;
  }));
  CHECK(app2_status() == 200);
  // Three more checks go by with the same broken contents: still one failed reload.
  const double ok_reloads = series(cluster, 1, "chorus_security_reloads_total{result=\"ok\"}");
  CHECK_FALSE(poll_until(3'500, [&] {
    return series(cluster, 1, "chorus_security_reloads_total{result=\"error\"}") != 1;
  }));
  CHECK(series(cluster, 1, "chorus_security_reloads_total{result=\"ok\"}") == ok_reloads);

  // Fixed again: picked up.
  write_file(files.acl, acl_json(/*with_reader=*/false, /*with_app2=*/true));
  CHECK(poll_until(kPollTimeoutMs, [&] {
    return status_of(http_client(cluster.node(1), kReader).Get("/v1/kv/app/watched")) == 401;
  }));
  CHECK(app2_status() == 200);
  REQUIRE(cluster.running(1));
}

TEST_CASE("security: sealed gossip admits no rogue node and drops forged and replayed datagrams",
          "[cluster][own-security]") {
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

// ---- internode mutual TLS and identity binding -------------------------------------------------

namespace {

struct SecureCluster {
  SecureFiles files;
  LocalCluster cluster{[] {
    ClusterOptions options;
    options.tls = true;
    return options;
  }()};

  SecureCluster() {
    for (int i = 1; i <= 3; ++i) cluster.set_node_args(i, files.args());
    start_or_fail(cluster);
  }
  KvClient admin(int i) const { return admin_client(cluster, i); }
  double series_of(int i, const std::string& name_and_labels) const {
    return series(cluster, i, name_and_labels);
  }
  double refused(const char* reason) const {
    double total = 0;
    for (int i = 1; i <= 3; ++i) total += series_of(i, refusals(reason));
    return total;
  }
  bool member_anywhere(const std::string& id) const {
    for (int i = 1; i <= 3; ++i) {
      if (lists_member(cluster, i, id).value_or(true)) return true;  // cannot tell: fail
    }
    return false;
  }
  uint64_t raft_term(int i) const {
    JsonReply r = admin(i).get_json("/v1/cluster");
    REQUIRE(r.http_status == 200);
    return r.json["raft"].value("term", uint64_t{0});
  }
  // The key is on every replica with exactly this value.
  bool everywhere(const std::string& key, const std::string& value) const {
    for (int i = 1; i <= 3; ++i) {
      JsonReply r = admin(i).get_json("/v1/debug/local/" + key);
      if (r.http_status != 200 || r.json.value("value", "") != value) return false;
    }
    return true;
  }
};

// A rogue chorusd that tries to join through gossip (it has the gossip key: what stops it is the
// TCP layer) and is refused at every TLS handshake. Asserts it never became a member and that
// nothing was streamed to it.
void expect_rogue_refused(SecureCluster& s, std::vector<std::string> rogue_args,
                          const ClientOptions& rogue_client) {
  const double handshakes = s.refused("peer_handshake");
  rogue_args.push_back("--gossip-key=" + s.files.key);
  rogue_args.push_back("--acl-file=" + s.files.acl);
  chorus::Result<int> rogue = s.cluster.add_node(rogue_args, /*cluster_tls=*/false);
  REQUIRE(rogue.ok());
  // It knocks on every join retry; wait for several refusals, then look at what it got.
  CHECK(poll_until(kPollTimeoutMs, [&] { return s.refused("peer_handshake") >= handshakes + 3; }));
  CHECK(s.cluster.running(*rogue));
  CHECK_FALSE(s.member_anywhere(s.cluster.node(*rogue).id));
  ClientOptions options = rogue_client;
  options.token = kAdmin;
  KvClient to_rogue(s.cluster.node(*rogue).host, s.cluster.node(*rogue).http_port, options);
  CHECK(to_rogue.get_raw("/v1/ready").http_status == 503);
  CHECK(to_rogue.get_json("/v1/debug/local/k").http_status == 404);  // no record reached it
  JsonReply metrics = to_rogue.get_raw("/metrics");
  REQUIRE(metrics.http_status == 200);
  CHECK(metrics.body.find("\nchorus_rpc_calls_total{result=\"ok\"} 0\n") != std::string::npos);
}

}  // namespace

TEST_CASE(
    "security: internode mutual TLS admits no rogue node and binds identity to the connection",
    "[cluster][own-security]") {
  SecureCluster s;
  REQUIRE(s.admin(1).put("k", "v", Quorum("all")).http_status == 200);
  REQUIRE(s.everywhere("k", "v"));

  SECTION("a rogue node without TLS is refused at the handshake and gets nothing") {
    expect_rogue_refused(s, {}, ClientOptions{});
  }

  SECTION("a rogue node with a certificate from another CA is refused the same way") {
    chorus::test::TempDir dir{"chorus-rogue-ca"};
    chorus::Result<security::PemPair> ca = security::make_ca("rogue-ca", 1);
    REQUIRE(ca.ok());
    const NodeAddress next{
        "n4", s.cluster.node(3).host.substr(0, s.cluster.node(3).host.rfind('.')) + ".4"};
    chorus::Result<security::PemPair> cert = security::issue_certificate(*ca, "n4", {next.host}, 1);
    REQUIRE(cert.ok());
    write_file(dir.file("ca.pem"), ca->cert);
    write_file(dir.file("n4.pem"), cert->cert);
    write_file(dir.file("n4-key.pem"), cert->key);
    ClientOptions rogue_client;
    rogue_client.cacert = dir.file("ca.pem");
    expect_rogue_refused(s,
                         {"--tls-cert=" + dir.file("n4.pem"), "--tls-key=" + dir.file("n4-key.pem"),
                          "--tls-ca=" + dir.file("ca.pem")},
                         rogue_client);
  }

  SECTION("a valid certificate for n4 cannot speak for n2, nor as a non-member") {
    // chorusd itself refuses to start with a certificate naming another id, so the impostor is
    // this test: a transport holding a real certificate of the cluster's CA for n4.
    chorus::test::TempDir dir{"chorus-impostor"};
    chorus::Result<security::PemPair> cert = s.cluster.issue_identity("n4", {"127.0.0.1"});
    REQUIRE(cert.ok());
    write_file(dir.file("n4.pem"), cert->cert);
    write_file(dir.file("n4-key.pem"), cert->key);
    auto credentials = security::TlsCredentials::open(
        {dir.file("n4.pem"), dir.file("n4-key.pem"), s.cluster.tls_ca(), "n4"});
    REQUIRE(credentials.ok());
    chorus::test::IoRunner runner;
    chorus::Transport impostor(runner.io(), {}, nullptr);
    chorus::TransportTls tls;
    tls.server = [c = credentials->get()] { return c->peer_server(); };
    tls.client = [c = credentials->get()] { return c->peer_client(); };
    impostor.set_tls(tls);
    const std::string n1 = s.cluster.node(1).peer();
    auto call = [&](chorus::RpcMethod method, std::string payload) {
      auto done = std::make_shared<std::promise<chorus::Result<std::string>>>();
      impostor.call(n1, chorus::method_id(method), std::move(payload), 5000,
                    [done](chorus::Result<std::string> r) { done->set_value(std::move(r)); });
      auto future = done->get_future();
      REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
      return future.get();
    };
    auto denied = [](const chorus::Result<std::string>& r) {
      return !r.ok() && r.status().code() == chorus::Status::Code::kPermissionDenied;
    };
    const double impersonations = s.refused("peer_identity");
    const double strangers = s.refused("peer_not_member");
    const uint64_t term = s.raft_term(1);

    // The channel works: a probe (read-only, open to any certificate of the CA) is answered.
    chorus::Result<std::string> probe = call(chorus::RpcMethod::kClusterProbe, "");
    REQUIRE(probe.ok());
    CHECK(probe->find("\"n1\"") != std::string::npos);

    // A Raft vote in n2's name, at a term that would depose the leader, is refused.
    auto raft_payload = [&](const std::string& as) {
      chorus::raft::Message vote;
      vote.type = chorus::raft::MessageType::kVote;
      vote.from = chorus::raft_id_of(as);
      vote.to = chorus::raft_id_of("n1");
      vote.term = term + 100;
      vote.log_term = term + 100;
      vote.index = 1'000'000;
      std::string payload;
      chorus::put_length_prefixed(&payload, "127.0.0.1:1");
      payload += chorus::raft::encode_message(vote).value();
      return payload;
    };
    CHECK(denied(call(chorus::RpcMethod::kRaftMessage, raft_payload("n2"))));
    // The same message in its own name passes the transport (Raft then ignores a stranger).
    CHECK(call(chorus::RpcMethod::kRaftMessage, raft_payload("n4")).ok());

    // Joining as n2, or relaying anything as a non-member, is refused.
    auto meta = [](bool relayed, const chorus::MetaCommand& command) {
      return std::string(1, relayed ? '\1' : '\0') + chorus::encode_command(command);
    };
    CHECK(denied(
        call(chorus::RpcMethod::kMetaRequest,
             meta(false, chorus::MetaCommand::add_node({"n2", "127.0.0.1:1", "127.0.0.1:2"})))));
    CHECK(denied(call(chorus::RpcMethod::kMetaRequest,
                      meta(true, chorus::MetaCommand::decommission("n1")))));

    // Replica writes and reads, partition streams and repair: members only.
    chorus::ReplicaWrite write;
    write.key = "k";
    write.partition = chorus::partition_of("k", 256);  // the nodes' --partitions default
    write.record.value = "stolen";
    // Newer than the real write and inside the replicas' clock drift bound: it would win.
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    write.record.ts = chorus::Timestamp::from_parts(static_cast<uint64_t>(now_ms) + 100, 0);
    write.record.origin = "n2";
    CHECK(denied(call(chorus::RpcMethod::kReplicaWrite, chorus::encode(write))));
    chorus::ReplicaRead read;
    read.key = "k";
    CHECK(denied(call(chorus::RpcMethod::kReplicaRead, chorus::encode(read))));
    CHECK(denied(
        call(chorus::RpcMethod::kStreamPartition, chorus::encode_stream_request(0, "", 1 << 20))));
    CHECK(denied(call(chorus::RpcMethod::kAntiEntropy, "")));

    CHECK(s.refused("peer_identity") >= impersonations + 2);
    CHECK(s.refused("peer_not_member") >= strangers + 5);
    CHECK(s.raft_term(1) == term);
    CHECK_FALSE(s.member_anywhere("n4"));
    CHECK(s.everywhere("k", "v"));
    impostor.close();
  }

  SECTION("a raw TCP client on the internode port gets nothing") {
    const double handshakes = s.series_of(1, refusals("peer_handshake"));
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(s.cluster.node(1).peer_port));
    ::inet_pton(AF_INET, s.cluster.node(1).host.c_str(), &addr.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    // A well-formed plain frame asking for the cluster's members.
    const std::string frame =
        chorus::encode_request(1, chorus::method_id(chorus::RpcMethod::kClusterProbe), "");
    REQUIRE(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(frame.size()));
    char buffer[512];
    ssize_t total = 0;
    ssize_t got = 0;
    while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0) total += got;
    ::close(fd);
    // Closed (EOF or reset), not timed out, and not one byte of an answer.
    CHECK((got == 0 || errno == ECONNRESET));
    CHECK(total == 0);
    CHECK(poll_until(kPollTimeoutMs,
                     [&] { return s.series_of(1, refusals("peer_handshake")) >= handshakes + 1; }));
  }
  for (int i = 1; i <= 3; ++i) CHECK(s.cluster.running(i));
}
