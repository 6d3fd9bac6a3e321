// chorusctl and chorusd's config file against real processes, and TTL expiry end to end.
#include <catch2/catch.hpp>

#include <httplib.h>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/cluster/cluster_fixture.h"

using namespace chorus::testkit;

namespace {

constexpr int kToolTimeoutMs = 20'000;

std::string chorusctl_path() {
  auto chorusd = LocalCluster::find_chorusd();
  REQUIRE(chorusd.ok());
  const std::string& d = chorusd.value();
  return d.substr(0, d.rfind('/')) + "/cli/chorusctl";
}

struct ToolRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// chorusctl against `cluster`, with the flags it needs to reach it (TLS, token).
ToolRun run_tool(const std::string& binary, const LocalCluster& cluster,
                 const std::vector<std::string>& command, const std::string& log_path) {
  std::vector<std::string> args = cluster.chorusctl_args();
  args.insert(args.end(), command.begin(), command.end());
  std::remove(log_path.c_str());
  auto process = Process::start(binary, args, log_path);
  REQUIRE(process.ok());
  ToolRun run;
  auto status = process.value()->wait_exit(kToolTimeoutMs);
  REQUIRE(status.has_value());
  run.exit_code = *status;
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  run.output = text.str();
  return run;
}

}  // namespace

TEST_CASE("chorusctl writes, reads, deletes and shows status against a real cluster", "[cluster]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  const std::string ctl = chorusctl_path();
  const std::string log = cluster.data_root() + "/chorusctl.log";
  const std::string node = cluster.url(2);

  ToolRun put =
      run_tool(ctl, cluster, {"--node", node, "put", "user/42", "hello from ctl", "--w", "2"}, log);
  INFO(put.output);
  REQUIRE(put.exit_code == 0);
  // Written through node 2, visible through node 1's HTTP API under the same (slashed) key.
  REQUIRE(client_for(cluster, 1).get("user/42", 2).value == "hello from ctl");

  ToolRun get = run_tool(ctl, cluster, {"--node", cluster.url(3), "get", "user/42"}, log);
  REQUIRE(get.exit_code == 0);
  REQUIRE(get.output.find("hello from ctl") != std::string::npos);

  ToolRun status = run_tool(ctl, cluster, {"--node", node, "status"}, log);
  INFO(status.output);
  REQUIRE(status.exit_code == 0);
  for (const char* id : {"n1", "n2", "n3"}) REQUIRE(status.output.find(id) != std::string::npos);
  REQUIRE(status.output.find("alive") != std::string::npos);

  REQUIRE(run_tool(ctl, cluster, {"--node", node, "del", "user/42"}, log).exit_code == 0);
  ToolRun gone = run_tool(ctl, cluster, {"--node", node, "get", "user/42"}, log);
  REQUIRE(gone.exit_code == 1);
  REQUIRE(gone.output.find("not found") != std::string::npos);

  ToolRun repair = run_tool(ctl, cluster, {"--node", node, "repair"}, log);
  INFO(repair.output);
  REQUIRE(repair.exit_code == 0);
  REQUIRE(repair.output.find("repair queued") != std::string::npos);
  ToolRun repair_status = run_tool(ctl, cluster, {"--node", node, "repair-status"}, log);
  INFO(repair_status.output);
  REQUIRE(repair_status.exit_code == 0);
  REQUIRE(repair_status.output.find("partitions") != std::string::npos);
  ToolRun repair_json = run_tool(ctl, cluster, {"--node", node, "repair-status", "--json"}, log);
  REQUIRE(repair_json.exit_code == 0);
  const auto doc = nlohmann::json::parse(repair_json.output, nullptr, false);
  REQUIRE(doc.is_object());
  REQUIRE(doc["partitions"].size() == 256);

  // Nothing listens on port 1 of the cluster's block: a connection failure is exit code 2.
  ToolRun down =
      run_tool(ctl, cluster, {"--node", "http://" + cluster.node(1).host + ":1", "get", "x"}, log);
  REQUIRE(down.exit_code == 2);
}

// The members a node lists when no transition is running (empty while one is).
std::set<std::string> settled_members(const LocalCluster& cluster, int via) {
  JsonReply r = client_for(cluster, via).get_json("/v1/cluster");
  std::set<std::string> out;
  if (r.http_status != 200 || !r.json["transition"].is_null()) return out;
  for (const auto& m : r.json["members"]) out.insert(m.value("id", ""));
  return out;
}

TEST_CASE("chorusctl remove forces a dead member out and decommission lets a live one leave",
          "[cluster]") {
  ClusterOptions options;
  options.nodes = 4;
  LocalCluster cluster(options);
  start_or_fail(cluster);
  const std::string ctl = chorusctl_path();
  const std::string log = cluster.data_root() + "/chorusctl.log";
  const std::string node = cluster.url(1);
  KvClient c1 = client_for(cluster, 1);
  for (int k = 0; k < 100; ++k) REQUIRE(c1.put("k" + std::to_string(k), "v", 2).ok());

  ToolRun unknown = run_tool(ctl, cluster, {"--node", node, "decommission", "n9"}, log);
  INFO(unknown.output);
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.output.find("not a member") != std::string::npos);

  REQUIRE(cluster.kill(4, SIGKILL).ok());
  ToolRun remove = run_tool(ctl, cluster, {"--node", node, "remove", "n4"}, log);
  INFO(remove.output);
  REQUIRE(remove.exit_code == 0);
  CHECK(remove.output.find("remove of n4 accepted") != std::string::npos);
  const std::set<std::string> three = {"n1", "n2", "n3"};
  if (!poll_until(120'000, [&] { return settled_members(cluster, 1) == three; })) {
    cluster.dump_all_logs();
    FAIL("n4 was not removed");
  }

  ToolRun leave = run_tool(ctl, cluster, {"--node", node, "decommission", "n3"}, log);
  INFO(leave.output);
  REQUIRE(leave.exit_code == 0);
  auto exited = cluster.wait_exit(3, 120'000);
  REQUIRE(exited.ok());
  CHECK(*exited == 0);
  const std::set<std::string> two = {"n1", "n2"};
  REQUIRE(poll_until(60'000, [&] { return settled_members(cluster, 2) == two; }));
  // Nothing written before was lost on the way: n4's copies came back from the other replicas,
  // n3's were streamed before it left.
  for (int k = 0; k < 100; ++k) {
    ReadReply r = client_for(cluster, 2).get("k" + std::to_string(k), 2);
    REQUIRE(r.ok());
    CHECK(r.value == "v");
  }
}

TEST_CASE("chorusd takes its flags from a JSON config file and the command line wins",
          "[cluster]") {
  ClusterOptions options;
  options.nodes = 1;
  LocalCluster layout(options);  // only for a free address block and a data root
  REQUIRE(layout.start().ok());
  REQUIRE(layout.wait_ready(kReadyTimeoutMs).ok());
  layout.stop_all();

  const NodeAddress& address = layout.node(1);
  const std::string config = layout.data_root() + "/chorusd.json";
  std::ofstream(config) << nlohmann::json{
      {"id", "solo"},           {"http", address.http()},
      {"peer", address.peer()}, {"data", layout.data_root() + "/solo"},
      {"bootstrap-expect", 1},  {"replicas", 1},
      {"read-quorum", 1},       {"write-quorum", 1},
      {"max-value-bytes", 100}}.dump();
  auto chorusd = LocalCluster::find_chorusd();
  REQUIRE(chorusd.ok());
  auto process = Process::start(chorusd.value(), {"--config", config, "--max-value-bytes", "200"},
                                layout.data_root() + "/solo.log");
  REQUIRE(process.ok());
  KvClient c(address.host, address.http_port);
  REQUIRE(poll_until(kReadyTimeoutMs, [&] { return c.get_json("/v1/ready").http_status == 200; }));
  JsonReply status = c.get_json("/v1/cluster");
  REQUIRE(status.json["node"] == "solo");
  REQUIRE(status.json["replicas"] == 1);
  REQUIRE(c.put("k", std::string(150, 'x')).http_status == 200);  // 200 from the command line
  REQUIRE(c.put("k", std::string(250, 'x')).http_status == 413);
  REQUIRE(process.value()->kill(SIGTERM).ok());
  REQUIRE(process.value()->wait_exit(kReadyTimeoutMs) == 0);  // clean shutdown on SIGTERM
}

TEST_CASE("A value written with ttl_s reads as absent once it expires", "[cluster]") {
  LocalCluster cluster;
  start_or_fail(cluster);
  KvClient c = client_for(cluster, 1);
  httplib::Client raw = raw_http_client(cluster, 1);
  auto put =
      raw.Put("/v1/kv/session", R"({"value": "short-lived", "ttl_s": 1})", "application/json");
  REQUIRE(put);
  REQUIRE(put->status == 200);
  REQUIRE(c.get("session", 2).value == "short-lived");
  REQUIRE(poll_until(kConvergeTimeoutMs, [&] { return c.get("session", 2).not_found(); }));
  REQUIRE(c.put("forever", "v", 2).http_status == 200);
  REQUIRE(c.get("forever", 2).value == "v");
}
