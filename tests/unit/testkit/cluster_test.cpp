// LocalCluster: address picking, and the process lifecycle driven against fake_chorusd (a
// single-node in-memory stand-in with chorusd's command line; see tests/testkit/fake_chorusd.cpp).
#include "tests/testkit/cluster.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/testkit/client.h"

namespace chorus::testkit {
namespace {

constexpr int kReadyTimeoutMs = 20000;

ClusterOptions fake_options(int nodes = 3) {
  ClusterOptions options;
  options.nodes = nodes;
  options.binary = CHORUS_TESTKIT_FAKE_CHORUSD;
  return options;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "127.X.Y.i" -> X * 256 + Y, after checking the address is in 127.0.0.0/8.
int block_of(const NodeAddress& address, int i) {
  in_addr parsed{};
  REQUIRE(inet_pton(AF_INET, address.host.c_str(), &parsed) == 1);
  uint32_t ip = ntohl(parsed.s_addr);
  CHECK((ip >> 24) == 127u);
  CHECK((ip & 0xFF) == uint32_t(i));
  int x = int((ip >> 16) & 0xFF);
  CHECK(x >= kBlockFirstOctetMin);
  CHECK(x <= kBlockFirstOctetMax);
  return int(ip >> 8) & 0xFFFF;
}

TEST_CASE("each cluster takes its own loopback /24 block", "[cluster]") {
  std::vector<std::unique_ptr<LocalCluster>> clusters;
  std::set<int> blocks;
  for (int c = 0; c < 8; ++c) {
    clusters.push_back(std::make_unique<LocalCluster>(fake_options()));
    LocalCluster& cluster = *clusters.back();
    REQUIRE(cluster.size() == 3);
    int block = block_of(cluster.node(1), 1);
    for (int i = 1; i <= 3; ++i) {
      const NodeAddress& node = cluster.node(i);
      CHECK(block_of(node, i) == block);
      CHECK(node.id == "n" + std::to_string(i));
      CHECK(node.http() == node.host + ":8080");
      CHECK(node.peer() == node.host + ":7000");
    }
    blocks.insert(block);
  }
  CHECK(blocks.size() == clusters.size());
}

TEST_CASE("find_chorusd honours CHORUSD", "[cluster]") {
  const char* saved = std::getenv("CHORUSD");
  std::string saved_value = saved ? saved : "";
  setenv("CHORUSD", "/bin/true", 1);
  Result<std::string> found = LocalCluster::find_chorusd();
  CHECK((found.ok() && *found == "/bin/true"));
  setenv("CHORUSD", "/nonexistent/chorusd", 1);
  CHECK(LocalCluster::find_chorusd().status().is_not_found());
  if (saved) {
    setenv("CHORUSD", saved_value.c_str(), 1);
  } else {
    unsetenv("CHORUSD");
  }
}

TEST_CASE("a cluster starts - serves - loses and regains nodes - and cleans up", "[cluster]") {
  std::string root;
  {
    LocalCluster cluster(fake_options());
    REQUIRE(cluster.start().ok());
    root = cluster.data_root();
    Status ready = cluster.wait_ready(kReadyTimeoutMs);
    INFO(ready.to_string());
    REQUIRE(ready.ok());

    KvClient client(cluster.node(1).host, cluster.node(1).http_port);
    CHECK(client.put("k", "v").ok());
    CHECK(client.get("k").value == std::optional<std::string>("v"));

    std::string log = read_file(cluster.log_path(2));
    CHECK(log.find("--bootstrap-expect 3") != std::string::npos);
    CHECK(log.find("--seeds " + cluster.node(1).peer() + "," + cluster.node(2).peer() + "," +
                   cluster.node(3).peer()) != std::string::npos);
    CHECK(log.find("--data " + cluster.data_dir(2)) != std::string::npos);

    REQUIRE(cluster.kill(2, SIGKILL).ok());
    CHECK_FALSE(cluster.running(2));
    CHECK(KvClient(cluster.node(2).host, kHttpPort).get("k").http_status == 0);
    CHECK(cluster.wait_ready(kReadyTimeoutMs).ok());  // a node killed on purpose is skipped

    REQUIRE(cluster.kill(3, SIGSTOP).ok());
    CHECK(cluster.paused(3));
    CHECK(cluster.running(3));
    CHECK(cluster.wait_ready(kReadyTimeoutMs).ok());  // a paused node is skipped
    REQUIRE(cluster.kill(3, SIGCONT).ok());

    REQUIRE(cluster.restart(2).ok());
    CHECK(cluster.wait_ready(kReadyTimeoutMs).ok());
    CHECK(cluster.dump_logs(2, 5).find("fake_chorusd n2 listening") != std::string::npos);
    CHECK(read_file(cluster.log_path(2)).find("start #2 of n2") != std::string::npos);

    REQUIRE(cluster.stop(1).ok());
    CHECK_FALSE(cluster.running(1));
    REQUIRE(cluster.restart(1).ok());  // same address: the port was freed
    CHECK(cluster.wait_ready(kReadyTimeoutMs).ok());
    CHECK(cluster.running(1));
  }
  CHECK_FALSE(std::filesystem::exists(root));
}

TEST_CASE("wait_ready reports a node that exited", "[cluster]") {
  ClusterOptions options = fake_options(2);
  options.extra_args = {"--fake-exit-code", "7"};
  LocalCluster cluster(options);
  REQUIRE(cluster.start().ok());
  Status ready = cluster.wait_ready(kReadyTimeoutMs);
  CHECK(ready.is_unavailable());
  CHECK(ready.message().find("exited with status 7") != std::string::npos);
}

TEST_CASE("wait_ready times out naming the nodes not ready", "[cluster]") {
  LocalCluster cluster(fake_options(2));
  cluster.set_node_args(2, {"--fake-never-ready"});
  REQUIRE(cluster.start().ok());
  Status ready = cluster.wait_ready(1000);
  CHECK(ready.is_timeout());
  CHECK(ready.message().find("n2 (HTTP 503)") != std::string::npos);
  CHECK(ready.message().find("n1") == std::string::npos);
}

}  // namespace
}  // namespace chorus::testkit
