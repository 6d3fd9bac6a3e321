// Tests for flag validation, the request shapes, key choice and the report.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/config.h"
#include "bench/report.h"
#include "bench/workload.h"

using namespace chorus::bench;

TEST_CASE("targets parse as host:port lists") {
  auto targets = parse_targets("127.0.0.1:8081,localhost:8082,[::1]:80");
  REQUIRE(targets.ok());
  REQUIRE(targets.value().size() == 3);
  REQUIRE(targets.value()[0].host == "127.0.0.1");
  REQUIRE(targets.value()[0].port == "8081");
  REQUIRE(targets.value()[1].host == "localhost");
  REQUIRE(targets.value()[2].host == "::1");
  REQUIRE(parse_targets("a:1,,b:2").value().size() == 2);
  for (const char* bad : {"", ",", "host", ":80", "h:0", "h:65536", "h:8o", "[::1]80", "h:"}) {
    INFO(bad);
    REQUIRE_FALSE(parse_targets(bad).ok());
  }
}

TEST_CASE("quorum values follow the API") {
  for (const char* good : {"", "1", "3", "64", "one", "quorum", "all"})
    REQUIRE(check_quorum(good).ok());
  for (const char* bad : {"0", "65", "-1", "two", "ALL", "1x", "100"})
    REQUIRE_FALSE(check_quorum(bad).ok());
}

TEST_CASE("validate names the offending flag") {
  BenchConfig config;
  config.targets = parse_targets("127.0.0.1:1").value();
  REQUIRE(validate(config).ok());
  config.read_ratio = 1.5;
  REQUIRE(validate(config).message().find("--read-ratio") != std::string::npos);
  config.read_ratio = 0.5;
  config.connections = kConnectionsMax + 1;
  REQUIRE(validate(config).message().find("--connections") != std::string::npos);
  config.connections = 1;
  config.write_quorum = "two";
  REQUIRE(validate(config).message().find("--w") != std::string::npos);
  config.write_quorum = "quorum";
  config.zipf_theta = 1.0;
  REQUIRE_FALSE(validate(config).ok());
}

TEST_CASE("requests have the API's shape") {
  REQUIRE(key_name(42) == "bench-42");
  REQUIRE(kv_path(7, "w", "") == "/v1/kv/bench-7");
  REQUIRE(kv_path(7, "r", "quorum") == "/v1/kv/bench-7?r=quorum");
  const std::string body = put_body(100, 1);
  const auto doc = nlohmann::json::parse(body);
  REQUIRE(doc.size() == 1);
  REQUIRE(doc["value"].get<std::string>().size() == 100);
  REQUIRE(put_body(100, 1) == body);
  REQUIRE(put_body(100, 2) != body);
  REQUIRE(nlohmann::json::parse(put_body(0, 1))["value"] == "");
}

TEST_CASE("404 is a success only for GET") {
  REQUIRE(is_success(Op::kGet, 200));
  REQUIRE(is_success(Op::kPut, 204));
  REQUIRE(is_success(Op::kGet, 404));
  REQUIRE_FALSE(is_success(Op::kPut, 404));
  REQUIRE_FALSE(is_success(Op::kGet, 503));
  REQUIRE_FALSE(is_success(Op::kPut, 0));
}

TEST_CASE("key choice is in range and reproducible from the seed") {
  for (Distribution distribution : {Distribution::kUniform, Distribution::kZipfian}) {
    const KeyChooser chooser(distribution, 1000, 0.99);
    std::mt19937_64 a(5);
    std::mt19937_64 b(5);
    for (int i = 0; i < 1000; ++i) {
      const uint64_t key = chooser.next(a);
      REQUIRE(key < 1000);
      REQUIRE(chooser.next(b) == key);
    }
  }
  std::mt19937_64 rng(1);
  int gets = 0;
  for (int i = 0; i < 10000; ++i) gets += choose_op(0.3, rng) == Op::kGet;
  REQUIRE(gets == Approx(3000).epsilon(0.05));
  for (int i = 0; i < 100; ++i) REQUIRE(choose_op(0.0, rng) == Op::kPut);
  for (int i = 0; i < 100; ++i) REQUIRE(choose_op(1.0, rng) == Op::kGet);
}

TEST_CASE("the report has one row per op and the error causes") {
  BenchConfig config;
  config.targets = parse_targets("127.0.0.1:1").value();
  RunStats stats;
  stats.measured_s = 2.0;
  for (uint64_t v = 1; v <= 100; ++v) stats.ops[0].latency.record(v * 1000);
  stats.ops[1].latency.record(500);
  stats.ops[1].errors = 3;
  stats.errors.by_status[503] = 2;
  stats.errors.timeout = 1;
  stats.errors.connect = 4;
  const std::string text = format_report(stats, config);
  REQUIRE(text.find("get           100         50.0") != std::string::npos);
  REQUIRE(text.find("http_503=2 connect=4 timeout=1") != std::string::npos);
  const nlohmann::json doc = report_json(stats, config);
  REQUIRE(doc["ops"]["get"]["count"] == 100);
  REQUIRE(doc["ops"]["get"]["latency_ms"]["max"] == Approx(100.0));
  REQUIRE(doc["ops"]["get"]["latency_ms"]["p50"] == Approx(50.0).epsilon(0.01));
  REQUIRE(doc["ops"]["put"]["errors"] == 3);
  REQUIRE(doc["ops"]["all"]["count"] == 101);
  REQUIRE(doc["ops"]["all"]["errors"] == 7);
  REQUIRE(doc["errors"]["http"]["503"] == 2);
  REQUIRE(doc["config"]["targets"][0] == "127.0.0.1:1");
}
