// Mutual TLS on the transport: calls work and the handler learns the caller's certificate name; a
// client without a certificate, with one from another CA, or speaking plain TCP is refused and
// counted; a stalled handshake is cut at its deadline.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>

#include "core/metrics.h"
#include "net/transport.h"
#include "net_test_util.h"
#include "security/cert_issuer.h"
#include "security/tls.h"
#include "tests/unit/temp_dir.h"

namespace chorus {
namespace {

using test::call_and_wait;
using test::IoRunner;
using test::poll_until;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// A CA and the credentials of nodes it issued, as files a TlsCredentials loads.
class Pki {
 public:
  explicit Pki(const std::string& ca_name) {
    Result<security::PemPair> ca = security::make_ca(ca_name, 1);
    REQUIRE(ca.ok());
    ca_ = *ca;
    write_file(dir_.file("ca.crt"), ca_.cert);
  }

  std::unique_ptr<security::TlsCredentials> node(const std::string& id) {
    Result<security::PemPair> pair = security::issue_certificate(ca_, id, {"127.0.0.1"}, 1);
    REQUIRE(pair.ok());
    write_file(dir_.file(id + ".crt"), pair->cert);
    write_file(dir_.file(id + ".key"), pair->key);
    auto credentials = security::TlsCredentials::open(
        {dir_.file(id + ".crt"), dir_.file(id + ".key"), dir_.file("ca.crt"), id});
    REQUIRE(credentials.ok());
    return std::move(credentials).value();
  }

 private:
  test::TempDir dir_{"chorus-tls"};
  security::PemPair ca_;
};

TransportTls tls_of(const security::TlsCredentials* credentials) {
  TransportTls tls;
  tls.server = [credentials] { return credentials->peer_server(); };
  tls.client = [credentials] { return credentials->peer_client(); };
  return tls;
}

uint64_t refused_handshakes(MetricsRegistry& metrics) {
  return security_refusal_counter(&metrics, "peer_handshake")->value();
}

// Echoes "<caller>:<payload>".
RpcHandler caller_echo() {
  return [](const std::string& caller, uint16_t, std::string payload, Responder respond) {
    respond(Status::OK(), caller + ":" + payload);
  };
}

boost::asio::ip::tcp::endpoint loopback_endpoint(const std::string& address) {
  const uint16_t port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  return {boost::asio::ip::make_address("127.0.0.1"), port};
}

}  // namespace

TEST_CASE("mutual TLS: calls carry the caller's certificate name both ways") {
  Pki pki("cluster-ca");
  auto n1 = pki.node("n1");
  auto n2 = pki.node("n2");
  MetricsRegistry m1, m2;
  IoRunner runner;
  Transport t1(runner.io(), {}, &m1);
  Transport t2(runner.io(), {}, &m2);
  t1.set_tls(tls_of(n1.get()));
  t2.set_tls(tls_of(n2.get()));
  t1.set_handler(caller_echo());
  t2.set_handler(caller_echo());
  REQUIRE(t1.listen("127.0.0.1:0").ok());
  REQUIRE(t2.listen("127.0.0.1:0").ok());

  // Many calls queued before the handshake finishes all wait for it and then go through.
  std::vector<test::PendingReply> replies(50);
  for (size_t i = 0; i < replies.size(); ++i) {
    t1.call(t2.local_address(), 1, "x" + std::to_string(i), 5000, replies[i].callback());
  }
  for (size_t i = 0; i < replies.size(); ++i) {
    Result<std::string> reply = replies[i].get();
    REQUIRE(reply.ok());
    CHECK(*reply == "n1:x" + std::to_string(i));
  }
  Result<std::string> back = call_and_wait(t2, t1.local_address(), 1, "hello");
  REQUIRE(back.ok());
  CHECK(*back == "n2:hello");

  // A payload of several TLS records arrives whole.
  const std::string big(300 * 1024, 'b');
  Result<std::string> large = call_and_wait(t1, t2.local_address(), 1, big);
  REQUIRE(large.ok());
  CHECK(*large == "n1:" + big);
  CHECK(refused_handshakes(m1) == 0);
  CHECK(refused_handshakes(m2) == 0);
}

TEST_CASE("mutual TLS: a peer from another CA, without TLS or without a certificate gets nothing") {
  Pki pki("cluster-ca");
  Pki other("rogue-ca");
  auto n1 = pki.node("n1");
  auto rogue = other.node("n2");
  MetricsRegistry server_metrics;
  IoRunner runner;
  Transport server(runner.io(), {}, &server_metrics);
  server.set_tls(tls_of(n1.get()));
  auto handled = std::make_shared<std::atomic<int>>(0);
  server.set_handler([handled](const std::string&, uint16_t, std::string, Responder respond) {
    handled->fetch_add(1);
    respond(Status::OK(), "secret");
  });
  REQUIRE(server.listen("127.0.0.1:0").ok());

  SECTION("a certificate from another CA") {
    Transport client(runner.io(), {}, nullptr);
    client.set_tls(tls_of(rogue.get()));
    Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "let me in");
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.status().is_unavailable());
    CHECK(poll_until([&] { return refused_handshakes(server_metrics) >= 1; }));
  }
  SECTION("plain TCP") {
    Transport client(runner.io(), {}, nullptr);
    Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "let me in");
    REQUIRE_FALSE(reply.ok());
    CHECK(poll_until([&] { return refused_handshakes(server_metrics) >= 1; }));
  }
  SECTION("TLS without a client certificate") {
    // A client context that trusts the CA but presents nothing.
    auto bare = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
    bare->set_verify_mode(boost::asio::ssl::verify_none);
    Transport client(runner.io(), {}, nullptr);
    TransportTls tls;
    tls.server = [bare] { return bare; };
    tls.client = [bare] { return bare; };
    client.set_tls(tls);
    Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "let me in");
    REQUIRE_FALSE(reply.ok());
    CHECK(poll_until([&] { return refused_handshakes(server_metrics) >= 1; }));
  }
  SECTION("a server this node's CA did not issue is not trusted either") {
    Transport rogue_server(runner.io(), {}, nullptr);
    rogue_server.set_tls(tls_of(rogue.get()));
    rogue_server.set_handler([handled](const std::string&, uint16_t, std::string, Responder r) {
      handled->fetch_add(1);
      r(Status::OK(), "thanks");
    });
    REQUIRE(rogue_server.listen("127.0.0.1:0").ok());
    Result<std::string> reply =
        call_and_wait(server, rogue_server.local_address(), 1, "a record for you");
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.status().is_unavailable());
  }
  CHECK(handled->load() == 0);
}

TEST_CASE("mutual TLS: a stalled handshake is closed at its deadline and others still connect") {
  Pki pki("cluster-ca");
  auto n1 = pki.node("n1");
  auto n2 = pki.node("n2");
  MetricsRegistry server_metrics;
  IoRunner runner;
  TransportOptions options;
  options.tls_handshake_timeout_ms = 300;
  Transport server(runner.io(), options, &server_metrics);
  server.set_tls(tls_of(n1.get()));
  server.set_handler(caller_echo());
  REQUIRE(server.listen("127.0.0.1:0").ok());

  // Connects and says nothing, the first step of a slow-handshake flood.
  boost::asio::ip::tcp::socket silent(runner.io());
  silent.connect(loopback_endpoint(server.local_address()));
  Transport client(runner.io(), {}, nullptr);
  client.set_tls(tls_of(n2.get()));
  Result<std::string> reply = call_and_wait(client, server.local_address(), 1, "meanwhile");
  REQUIRE(reply.ok());
  CHECK(*reply == "n2:meanwhile");

  CHECK(poll_until([&] { return refused_handshakes(server_metrics) == 1; }));
  std::array<char, 16> buffer{};
  boost::system::error_code ec;
  silent.read_some(boost::asio::buffer(buffer), ec);  // closed by the server: returns at once
  CHECK((ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset));
}

}  // namespace chorus
