// Tests for chorusctl's request building and response formatting.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/format.h"

using namespace chorus::cli;
using nlohmann::json;
using namespace std::string_literals;

TEST_CASE("exit codes follow the HTTP status") {
  REQUIRE(exit_code_for_status(200) == kExitOk);
  REQUIRE(exit_code_for_status(204) == kExitOk);
  REQUIRE(exit_code_for_status(404) == kExitRequestFailed);
  REQUIRE(exit_code_for_status(503) == kExitRequestFailed);
  REQUIRE(exit_code_for_status(0) == kExitUnreachable);
}

TEST_CASE("node URLs are normalised to scheme://host:port") {
  REQUIRE(normalize_node_url("127.0.0.1:8081").value() == "http://127.0.0.1:8081");
  REQUIRE(normalize_node_url("http://127.0.0.1:8081/").value() == "http://127.0.0.1:8081");
  REQUIRE(normalize_node_url("https://node-1:443").value() == "https://node-1:443");
  REQUIRE_FALSE(normalize_node_url("ftp://h:1").ok());
  REQUIRE_FALSE(normalize_node_url("http://h:1/v1").ok());
  REQUIRE_FALSE(normalize_node_url("").ok());
  REQUIRE_FALSE(normalize_node_url("http://").ok());
}

TEST_CASE("quorum values") {
  for (const char* good : {"1", "3", "10", "one", "quorum", "all"}) REQUIRE(is_quorum_value(good));
  for (const char* bad : {"", "0", "01", "-1", "two", "ALL", "1x", "1000"}) {
    REQUIRE_FALSE(is_quorum_value(bad));
  }
}

TEST_CASE("paths percent-encode the key as one segment") {
  REQUIRE(kv_path("greeting", {}) == "/v1/kv/greeting");
  REQUIRE(kv_path("user/42", {{"w", "2"}, {"sync", "true"}}) == "/v1/kv/user%2F42?w=2&sync=true");
  REQUIRE(kv_path("a b", {{"r", "quorum"}}) == "/v1/kv/a%20b?r=quorum");
  REQUIRE(owners_path("x/y%") == "/v1/debug/owners/x%2Fy%25");
}

TEST_CASE("PUT bodies use value for UTF-8 and value_base64 for other bytes") {
  REQUIRE(json::parse(put_json_body("h\xC3\xA9", std::nullopt)) == json{{"value", "h\xC3\xA9"}});
  REQUIRE(json::parse(put_json_body("\x00\xff"s, 60)) ==
          json{{"value_base64", "AP8="}, {"ttl_s", 60}});
  REQUIRE(json::parse(put_json_body("", std::nullopt)) == json{{"value", ""}});
}

TEST_CASE("GET answers yield the value bytes") {
  REQUIRE(value_from_get(json{{"key", "k"}, {"value", "hello"}}).value() == "hello");
  REQUIRE(value_from_get(json{{"value_base64", "AP8="}}).value() == "\x00\xff"s);
  REQUIRE(value_from_get(json{{"value_base64", "!!"}}).status().is_corruption());
  REQUIRE(value_from_get(json{{"key", "k"}}).status().is_corruption());
  REQUIRE(value_from_get(json::array()).status().is_corruption());
}

TEST_CASE("HTTP errors are described from the API's error body") {
  REQUIRE(describe_http_error(
              503, R"({"error":"unavailable","message":"1 of 3 replicas answered, 2 required"})") ==
          "HTTP 503: unavailable: 1 of 3 replicas answered, 2 required");
  REQUIRE(describe_http_error(400, R"({"error":"invalid_quorum"})") == "HTTP 400: invalid_quorum");
  REQUIRE(describe_http_error(502, "Bad Gateway\r\n") == "HTTP 502: Bad Gateway  ");
  REQUIRE(describe_http_error(500, "") == "HTTP 500");
  const std::string long_body(1000, 'x');
  const std::string line = describe_http_error(500, long_body);
  REQUIRE(line.size() < 250);
  REQUIRE(line.substr(line.size() - 3) == "...");
}

TEST_CASE("write results are one line") {
  REQUIRE(describe_write(json{{"acks", 2}, {"key", "k"}, {"node", "n1"}, {"timestamp", 7}}) ==
          "ok: timestamp 7, acks 2, node n1\n");
  REQUIRE(describe_write(json::object()) == "ok\n");
}

TEST_CASE("cluster status prints a header and a member table") {
  const json doc = json::parse(R"({
    "node": "n1", "epoch": 7, "partitions": 256, "replicas": 3,
    "raft": {"role": "follower", "term": 4, "leader": "n2"},
    "members": [
      {"id": "n1", "peer": "127.0.0.1:7001", "http": "127.0.0.1:8081", "state": "alive",
       "partitions": 171},
      {"id": "n2", "peer": "127.0.0.1:7002", "http": "127.0.0.1:8082", "state": "suspect"}
    ]})");
  const auto text = format_cluster_status(doc);
  REQUIRE(text.ok());
  REQUIRE(text.value() ==
          "node n1  epoch 7  partitions 256  replicas 3  raft follower term 4 leader n2\n"
          "\n"
          "ID  PEER            HTTP            STATE    PARTITIONS\n"
          "n1  127.0.0.1:7001  127.0.0.1:8081  alive    171\n"
          "n2  127.0.0.1:7002  127.0.0.1:8082  suspect  -\n");
}

TEST_CASE("cluster status shows a transition in progress") {
  const json doc = json::parse(R"({
    "node": "n1", "epoch": 9, "partitions": 256, "replicas": 3,
    "raft": {"role": "leader", "term": 2, "leader": "n1"},
    "transition": {"id": 8, "partitions_pending": 40, "partitions_total": 256},
    "members": [{"id": "n4", "peer": "p", "http": "h", "state": "joining", "partitions": 0}]})");
  const auto text = format_cluster_status(doc);
  REQUIRE(text.ok());
  CHECK(text.value().find("transition 8: 40 of 256 partitions still moving\n") !=
        std::string::npos);
  CHECK(text.value().find("n4  p     h     joining  0") != std::string::npos);
}

TEST_CASE("cluster status tolerates missing parts") {
  const json doc = json::parse(
      R"({"node": "n1", "epoch": 0, "replicas": 3, "formed": false, "members": [],
          "raft": {"role": "none", "term": 0, "leader": null}})");
  REQUIRE(
      format_cluster_status(doc).value() ==
      "node n1  epoch 0  partitions -  replicas 3  raft none term 0 leader -  (ring not formed)\n"
      "(no members)\n");
  REQUIRE(format_cluster_status(json::parse(R"({"node":"n1"})")).value() ==
          "node n1  epoch -  partitions -  replicas -\n(no members)\n");
  REQUIRE_FALSE(format_cluster_status(json::array()).ok());
}

TEST_CASE("owners print the preference list in order") {
  const json doc = json::parse(R"({"key": "user/42", "partition": 17, "epoch": 3,
      "owners": [{"id": "n2", "state": "alive"}, {"id": "n3", "state": "dead"}, "n1"]})");
  REQUIRE(format_owners(doc) ==
          "key user/42  partition 17  epoch 3\n"
          "#  ID  STATE\n"
          "1  n2  alive\n"
          "2  n3  dead\n"
          "3  n1  -\n");
  REQUIRE(format_owners(json{{"key", "k"}, {"error", "ring not formed"}}) ==
          "{\n  \"error\": \"ring not formed\",\n  \"key\": \"k\"\n}\n");
}

TEST_CASE("repair-status lists only partitions not yet verified") {
  const json doc = json::parse(R"({"closed_through": 9, "partitions_verified": 1,
      "partitions_replicated": 3, "epochs_dirty": 1, "epochs_unverified": 2, "keys_repaired": 40,
      "queued": 0,
      "in_flight": [{"partition": 7, "sweep": false, "epoch": 8, "peer": "n2", "phase": "fetch",
                     "running_ms": 12}],
      "partitions": [
        {"partition": 1, "verified_through": 9, "dirty": 0, "unverified": 0, "initiator": true},
        {"partition": 7, "verified_through": 6, "dirty": 1, "unverified": 2, "initiator": false},
        {"partition": 9, "verified_through": null, "dirty": 0, "unverified": 0,
         "initiator": false}]})");
  const std::string out = format_repair_status(doc);
  CHECK(out.find("closed through epoch 9  partitions 1/3 verified  dirty epochs 1") == 0);
  CHECK(out.find("in flight:") != std::string::npos);
  CHECK(out.find("fetch") != std::string::npos);
  // Partition 7 is listed; 1 (verified through the closed epoch) is not.
  CHECK(out.find("\n7 ") != std::string::npos);
  CHECK(out.find("\n1 ") == std::string::npos);
  CHECK(format_repair_status(json{{"enabled", false}}) == "{\n  \"enabled\": false\n}\n");
}
