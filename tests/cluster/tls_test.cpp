// HTTPS on the client API against real processes (DESIGN.md §10): only TLS 1.2+ clients that
// verify the node's certificate are served, plain HTTP on the HTTPS port gets nothing, a node
// refuses to start on credentials that do not fit, certificates rotate by SIGHUP under load with
// no failed request, and a flood of stalled handshakes does not starve other clients.
//
// Also protected mode: a non-loopback listener needs TLS, an ACL and a gossip key, or --insecure.
//
// Internode mutual TLS and identity binding are in security_test.cpp, with the other attacks.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <catch2/catch.hpp>

#include "security/cert_issuer.h"
#include "security/crypto.h"
#include "security/gossip_seal.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/unit/temp_dir.h"

using namespace chorus::testkit;
namespace security = chorus::security;

namespace {

constexpr int kPollTimeoutMs = 20'000;
constexpr int kStartExitTimeoutMs = 10'000;

int connect_tcp(const NodeAddress& node) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(node.http_port));
  ::inet_pton(AF_INET, node.host.c_str(), &addr.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

// A blocking handshake with the node at most at `max_version`, verifying against `ca`. Returns
// the SHA-256 fingerprint of the certificate the node presented, or empty if the handshake
// failed. Security level 0 so that this client may offer old versions: the node must refuse.
std::string handshake(const NodeAddress& node, int max_version, const std::string& ca) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  REQUIRE(SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) == 1);
  const int fd = connect_tcp(node);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  std::string fingerprint;
  if (SSL_connect(ssl) == 1) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    security::Sha256 digest{};
    unsigned int length = 0;
    if (cert != nullptr && X509_digest(cert, EVP_sha256(), digest.data(), &length) == 1) {
      fingerprint = security::to_hex(digest);
    }
    X509_free(cert);
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return fingerprint;
}

std::string file_fingerprint(const std::string& pem_path) {
  FILE* file = std::fopen(pem_path.c_str(), "r");
  REQUIRE(file != nullptr);
  X509* cert = PEM_read_X509(file, nullptr, nullptr, nullptr);
  std::fclose(file);
  REQUIRE(cert != nullptr);
  security::Sha256 digest{};
  unsigned int length = 0;
  REQUIRE(X509_digest(cert, EVP_sha256(), digest.data(), &length) == 1);
  X509_free(cert);
  return security::to_hex(digest);
}

ClusterOptions tls_cluster() {
  ClusterOptions options;
  options.tls = true;
  return options;
}

}  // namespace

TEST_CASE("tls: HTTPS serves verifying TLS 1.2+ clients only", "[cluster][own-security]") {
  LocalCluster cluster(tls_cluster());
  start_or_fail(cluster);
  const NodeAddress& n1 = cluster.node(1);

  SECTION("reads and writes over HTTPS on every node") {
    for (int i = 1; i <= cluster.size(); ++i) {
      KvClient c = client_for(cluster, i);
      const std::string key = "tls-" + std::to_string(i);
      REQUIRE(c.put(key, "v" + std::to_string(i)).http_status == 200);
      ReadReply r = client_for(cluster, i % cluster.size() + 1).get(key);
      CHECK(r.http_status == 200);
      CHECK(r.value == "v" + std::to_string(i));
    }
  }

  SECTION("plain HTTP on the HTTPS port gets no answer, and is counted") {
    const double before = metric(cluster, 1, "chorus_http_connection_errors_total");
    KvClient plain(n1.host, n1.http_port);  // no CA: plain HTTP
    CHECK(plain.put("plain", "v").http_status == 0);
    CHECK(plain.get_raw("/v1/health").http_status == 0);
    CHECK(poll_until(kPollTimeoutMs, [&] {
      return metric(cluster, 1, "chorus_http_connection_errors_total") >= before + 2;
    }));
    // Nothing was written by the refused request.
    CHECK(client_for(cluster, 1).get("plain").http_status == 404);
  }

  SECTION("a client that does not trust the node's CA, or speaks TLS 1.1, is refused") {
    chorus::test::TempDir dir("chorus-tls");
    const std::string stranger_ca = dir.file("stranger-ca.pem");
    write_file(stranger_ca, security::make_ca("stranger-ca", 1).value().cert);
    ClientOptions distrusting;
    distrusting.cacert = stranger_ca;
    CHECK(KvClient(n1.host, n1.http_port, distrusting).get_raw("/v1/health").http_status == 0);
    CHECK(handshake(n1, TLS1_1_VERSION, cluster.tls_ca()).empty());
    CHECK(handshake(n1, TLS1_2_VERSION, cluster.tls_ca()) == file_fingerprint(cluster.tls_cert(1)));
    CHECK(handshake(n1, TLS1_3_VERSION, cluster.tls_ca()) == file_fingerprint(cluster.tls_cert(1)));
  }
  for (int i = 1; i <= cluster.size(); ++i) CHECK(cluster.running(i));
}

TEST_CASE("tls: a node refuses to start on credentials that do not fit, with the reason",
          "[cluster][own-security]") {
  chorus::test::TempDir dir("chorus-tls");
  const security::PemPair ca = security::make_ca("test-ca", 1).value();
  const security::PemPair other_ca = security::make_ca("other-ca", 1).value();
  const security::PemPair n1 = security::issue_certificate(ca, "n1", {"127.0.0.1"}, 1).value();
  const security::PemPair n2 = security::issue_certificate(ca, "n2", {"127.0.0.1"}, 1).value();
  const security::PemPair foreign =
      security::issue_certificate(other_ca, "n1", {"127.0.0.1"}, 1).value();
  write_file(dir.file("ca.pem"), ca.cert);
  write_file(dir.file("n1.pem"), n1.cert);
  write_file(dir.file("n1-key.pem"), n1.key);
  write_file(dir.file("n2.pem"), n2.cert);
  write_file(dir.file("n2-key.pem"), n2.key);
  write_file(dir.file("foreign.pem"), foreign.cert);
  write_file(dir.file("foreign-key.pem"), foreign.key);

  struct Row {
    const char* what;
    std::vector<std::string> tls_args;
    const char* reason;
  };
  const std::vector<Row> rows = {
      {"a certificate naming another node",
       {"--tls-cert", dir.file("n2.pem"), "--tls-key", dir.file("n2-key.pem")},
       "names \"n2\", not this node"},
      {"a key that is not the certificate's",
       {"--tls-cert", dir.file("n1.pem"), "--tls-key", dir.file("n2-key.pem")},
       "does not match certificate"},
      {"a certificate from another CA",
       {"--tls-cert", dir.file("foreign.pem"), "--tls-key", dir.file("foreign-key.pem")},
       "does not chain to the CA"},
      {"a missing key file",
       {"--tls-cert", dir.file("n1.pem"), "--tls-key", dir.file("none.pem")},
       "none.pem"},
      {"a certificate without its key", {"--tls-cert", dir.file("n1.pem")}, "go together"},
  };
  const std::string chorusd = LocalCluster::find_chorusd().value();
  for (size_t k = 0; k < rows.size(); ++k) {
    const Row& row = rows[k];
    INFO(row.what);
    std::vector<std::string> args = {
        "--id",   "n1",          "--http", "127.0.0.1:0",
        "--peer", "127.0.0.1:0", "--data", dir.file("data-" + std::to_string(k))};
    args.insert(args.end(), row.tls_args.begin(), row.tls_args.end());
    if (row.tls_args.size() > 2) args.insert(args.end(), {"--tls-ca", dir.file("ca.pem")});
    const std::string log = dir.file("log");
    auto process = Process::start(chorusd, args, log);
    REQUIRE(process.ok());
    const std::optional<int> status = (*process)->wait_exit(kStartExitTimeoutMs);
    REQUIRE(status.has_value());
    CHECK(*status != 0);
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find(row.reason) != std::string::npos);
  }
}

TEST_CASE("tls: certificates rotate by SIGHUP under load with no failed request",
          "[cluster][own-security]") {
  LocalCluster cluster(tls_cluster());
  start_or_fail(cluster);
  std::vector<std::string> old_prints;
  for (int i = 1; i <= cluster.size(); ++i)
    old_prints.push_back(file_fingerprint(cluster.tls_cert(i)));

  // Two kinds of load: keep-alive clients (connections made before the rotation live on) and a
  // new connection per request (handshakes across the swap).
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  const auto run = [&](bool keep_alive) {
    ClientOptions options = cluster.client_options();
    options.keep_alive = keep_alive;
    std::vector<KvClient> clients;
    for (int i = 1; i <= cluster.size(); ++i) {
      clients.emplace_back(cluster.node(i).host, cluster.node(i).http_port, options);
    }
    for (int n = 0; !stop && n < 100'000; ++n) {
      KvClient& c = clients[n % clients.size()];
      const std::string key = "rotate-" + std::to_string(n % 50);
      const int status = n % 2 == 0 ? c.put(key, "v").http_status : c.get(key).http_status;
      const bool good = status == 200 || (n % 2 == 1 && status == 404);
      (good ? ok : failed)++;
    }
  };
  std::thread kept([&] { run(true); });
  std::thread fresh([&] { run(false); });
  CHECK(poll_until(kPollTimeoutMs, [&] { return ok.load() >= 100; }));

  for (int i = 1; i <= cluster.size(); ++i) {
    REQUIRE(cluster.issue_certificate(i).ok());
    REQUIRE(cluster.kill(i, SIGHUP).ok());
  }
  for (int i = 1; i <= cluster.size(); ++i) {
    const std::string fresh_print = file_fingerprint(cluster.tls_cert(i));
    REQUIRE(fresh_print != old_prints[static_cast<size_t>(i - 1)]);
    CHECK(poll_until(kPollTimeoutMs, [&] {
      return handshake(cluster.node(i), TLS1_3_VERSION, cluster.tls_ca()) == fresh_print;
    }));
  }

  // A broken certificate on SIGHUP keeps the current one in force and is counted.
  write_file(cluster.tls_cert(1), "not a certificate");
  REQUIRE(cluster.kill(1, SIGHUP).ok());
  CHECK(poll_until(kPollTimeoutMs, [&] {
    return metric(cluster, 1, "chorus_security_reloads_total{result=\"error\"}") >= 1;
  }));
  CHECK_FALSE(handshake(cluster.node(1), TLS1_3_VERSION, cluster.tls_ca()).empty());

  const int ok_at_rotation = ok.load();
  CHECK(poll_until(kPollTimeoutMs, [&] { return ok.load() >= ok_at_rotation + 200; }));
  stop = true;
  kept.join();
  fresh.join();
  CHECK(failed.load() == 0);
  for (int i = 1; i <= cluster.size(); ++i) CHECK(cluster.running(i));
}

TEST_CASE("tls: a flood of stalled handshakes does not starve other clients",
          "[cluster][own-security]") {
  LocalCluster cluster(tls_cluster());
  start_or_fail(cluster);
  const NodeAddress& n1 = cluster.node(1);
  // Connections that send half a ClientHello and then nothing: each holds a session until the
  // handshake deadline.
  constexpr int kStalled = 300;
  const unsigned char partial_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
  std::vector<int> stalled;
  for (int k = 0; k < kStalled; ++k) {
    const int fd = connect_tcp(n1);
    REQUIRE(::send(fd, partial_hello, sizeof partial_hello, 0) ==
            static_cast<ssize_t>(sizeof partial_hello));
    stalled.push_back(fd);
  }
  KvClient c = client_for(cluster, 1);
  for (int n = 0; n < 50; ++n) {
    const std::string key = "flood-" + std::to_string(n);
    REQUIRE(c.put(key, "v").http_status == 200);
    CHECK(c.get(key).value == "v");
  }
  CHECK(metric(cluster, 1, "chorus_http_connections") >= kStalled);
  for (int fd : stalled) ::close(fd);
  CHECK(cluster.running(1));
}

TEST_CASE("protected mode: a non-loopback listener needs TLS, an ACL and a gossip key",
          "[cluster][own-security]") {
  chorus::test::TempDir dir("chorus-protected");
  const std::string chorusd = LocalCluster::find_chorusd().value();
  const security::PemPair ca = security::make_ca("test-ca", 1).value();
  const security::PemPair n1 = security::issue_certificate(ca, "n1", {"127.0.0.1"}, 1).value();
  write_file(dir.file("ca.pem"), ca.cert);
  write_file(dir.file("n1.pem"), n1.cert);
  write_file(dir.file("n1-key.pem"), n1.key);
  write_file(dir.file("acl.json"), R"({"tokens": []})");
  write_file(dir.file("gossip.key"), security::GossipKeyring::generate_key() + "\n");
  const std::vector<std::string> tls = {"--tls-cert", dir.file("n1.pem"),
                                        "--tls-key",  dir.file("n1-key.pem"),
                                        "--tls-ca",   dir.file("ca.pem")};
  const std::vector<std::string> acl = {"--acl-file", dir.file("acl.json")};
  const std::vector<std::string> gossip = {"--gossip-key", dir.file("gossip.key")};
  const auto concat = [](std::initializer_list<std::vector<std::string>> parts) {
    std::vector<std::string> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
  };
  int run = 0;
  // Starts chorusd with `args`; returns its exit status if it exits within the deadline, or
  // nullopt if it is still running (then it is stopped). `log` receives its output.
  const auto start = [&](std::vector<std::string> args, std::string* log) -> std::optional<int> {
    const std::string log_path = dir.file("log-" + std::to_string(++run));
    args.insert(args.begin(), {"--id", "n1", "--data", dir.file("data-" + std::to_string(run))});
    auto process = Process::start(chorusd, args, log_path);
    REQUIRE(process.ok());
    std::optional<int> status;
    if (!poll_until(kStartExitTimeoutMs, [&] {
          std::ifstream in(log_path);
          *log =
              std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          return log->find("serving http") != std::string::npos || !(*process)->alive();
        })) {
      FAIL("chorusd neither started nor exited: " << *log);
    }
    status = (*process)->exit_status();
    if (!status) {
      REQUIRE((*process)->kill(SIGKILL).ok());
      (*process)->wait_exit(kStartExitTimeoutMs);
    }
    return status;
  };

  const std::vector<std::string> wildcard_http = {"--http", "0.0.0.0:0", "--peer", "127.0.0.1:0"};
  const std::vector<std::string> wildcard_peer = {"--http", "127.0.0.1:0", "--peer", "0.0.0.0:0"};
  std::string log;
  for (const auto& listen : {wildcard_http, wildcard_peer}) {
    INFO(listen[1] << " / " << listen[3]);
    for (const auto& partial : {std::vector<std::string>{}, concat({tls, acl}),
                                concat({tls, gossip}), concat({acl, gossip})}) {
      const std::optional<int> status = start(concat({listen, partial}), &log);
      REQUIRE(status.has_value());
      CHECK(*status != 0);
      CHECK(log.find("protected mode") != std::string::npos);
    }
    CHECK_FALSE(start(concat({listen, tls, acl, gossip}), &log).has_value());
    CHECK_FALSE(start(concat({listen, {"--insecure"}}), &log).has_value());
    CHECK(log.find("--insecure: listening beyond loopback") != std::string::npos);
  }
  // Loopback needs nothing (./dev.sh cluster).
  CHECK_FALSE(start({"--http", "127.0.0.1:0", "--peer", "127.0.0.1:0"}, &log).has_value());
}
