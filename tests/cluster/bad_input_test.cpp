// Bad input against a real node: every request gets a clear JSON error, the node stays up and
// other clients are unaffected.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "tests/cluster/cluster_fixture.h"

using namespace chorus::testkit;

namespace {

int connect_to(const NodeAddress& node) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(node.http_port));
  ::inet_pton(AF_INET, node.host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string error_code(const httplib::Result& r) {
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_object() ? j.value("error", "") : "<not json: " + r->body + ">";
}

}  // namespace

TEST_CASE("Bad requests get JSON errors with the right status and the node stays up", "[cluster]") {
  ClusterOptions options;
  options.extra_args = {"--max-value-bytes=1024"};
  LocalCluster cluster(options);
  start_or_fail(cluster);
  httplib::Client c = raw_http_client(cluster, 1);

  auto put = [&](const std::string& path, const std::string& body, const char* type) {
    auto r = c.Put(path.c_str(), body, type);
    REQUIRE(r);
    return r;
  };
  auto r = put("/v1/kv/k", std::string(2000, 'x'), "application/octet-stream");
  CHECK(r->status == 413);
  CHECK(error_code(r) == "too_large");
  r = put("/v1/kv/" + std::string(1025, 'k'), R"({"value":"v"})", "application/json");
  CHECK(r->status == 413);
  r = put("/v1/kv/k", R"({"value": "unterminated)", "application/json");
  CHECK(r->status == 400);
  r = put("/v1/kv/k", R"({"value_base64": "***"})", "application/json");
  CHECK(r->status == 400);
  CHECK(error_code(r) == "invalid_base64");
  r = put("/v1/kv/k", R"({"value": 12})", "application/json");
  CHECK(r->status == 400);
  r = put("/v1/kv/k?w=7", R"({"value": "v"})", "application/json");
  CHECK(r->status == 400);
  auto g = c.Get("/v1/kv/bad%zzescape");
  REQUIRE(g);
  CHECK(g->status == 400);
  g = c.Get("/v1/nowhere");
  REQUIRE(g);
  CHECK(g->status == 404);
  CHECK(error_code(g) == "not_found");
  auto p = c.Post("/v1/kv/k", "{}", "application/json");
  REQUIRE(p);
  CHECK(p->status == 405);

  // The node still serves normal traffic after all of that.
  KvClient kv = client_for(cluster, 1);
  REQUIRE(kv.put("after", "fine", 2).http_status == 200);
  REQUIRE(kv.get("after", 2).value == "fine");
}

TEST_CASE("A client that sends headers byte by byte and stops does not block others",
          "[cluster][plain-http]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    int fd = connect_to(cluster.node(1));
    REQUIRE(fd >= 0);
    const std::string partial = "PUT /v1/kv/slow HTTP/1.1\r\nHost: x\r\nContent-";
    for (char ch : partial) REQUIRE(::send(fd, &ch, 1, MSG_NOSIGNAL) == 1);
    slow.push_back(fd);
  }
  KvClient kv = client_for(cluster, 1);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(kv.put("busy-" + std::to_string(i), "v", 2).http_status == 200);
  }
  REQUIRE(kv.get("busy-49", 2).value == "v");
  for (int fd : slow) ::close(fd);
  REQUIRE(cluster.running(1));
}
