// KvApi behind a real HttpServer on 127.0.0.1, against FakeKvService: every route, input rule,
// status mapping and metric of DESIGN.md §8.
#include "api/kv_api.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/request_parsing.h"
#include "core/clock.h"
#include "core/limits.h"
#include "core/text.h"
#include "fake_kv_service.h"
#include "test_client.h"

namespace chorus::test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
constexpr size_t kValueBytesMax = 1024;

HttpServerOptions api_server_options() {
  HttpServerOptions options;
  options.header_timeout_ms = 2'000;
  options.handler_timeout_ms = 5'000;
  return options;
}

class ApiFixture {
 public:
  ApiFixture()
      : service_(&clock_),
        api_(&service_, KvApiOptions{kValueBytesMax, 3}, &metrics_, &clock_),
        harness_(api_server_options(), [this](HttpRequest request, HttpRespond respond) {
          api_.handle(std::move(request), std::move(respond));
        }) {}

  TestResponse call(const std::string& method, const std::string& target,
                    const std::string& body = {}, const Headers& headers = {}) {
    auto response = http_request(harness_.address(), method, target, body, headers);
    REQUIRE(response);
    return *response;
  }
  TestResponse put_json(const std::string& target, const nlohmann::json& body) {
    return call("PUT", target, body.dump(), {{"Content-Type", "application/json"}});
  }
  void require_error(const TestResponse& response, int status, const std::string& code) {
    INFO(response.body);
    CHECK(response.status == status);
    CHECK(response.error() == code);
    CHECK(response.header("content-type") == "application/json");
    const auto doc = response.json();
    CHECK(doc.contains("message"));
  }

  ManualClock clock_;
  FakeKvService service_;
  MetricsRegistry metrics_;
  KvApi api_;
  ServerHarness harness_;
};

TEST_CASE_METHOD(ApiFixture, "kv api: PUT then GET a UTF-8 value", "[api][kv]") {
  const TestResponse put = put_json("/v1/kv/greeting", {{"value", "h\xc3\xa9llo"}});
  REQUIRE(put.status == 200);
  const auto written = put.json();
  CHECK(written["key"] == "greeting");
  CHECK(written["node"] == "n1");
  CHECK(written["acks"] == 3);
  REQUIRE(written["timestamp"].is_number_unsigned());
  const auto args = service_.last_write();
  REQUIRE(args);
  CHECK(args->key == "greeting");
  CHECK(args->value == "h\xc3\xa9llo");
  CHECK_FALSE(args->tombstone);
  CHECK(args->ttl_s == 0);
  CHECK_FALSE(args->sync);
  CHECK(args->w.kind == Consistency::Kind::kDefault);

  const TestResponse get = call("GET", "/v1/kv/greeting");
  REQUIRE(get.status == 200);
  const auto read = get.json();
  CHECK(read["key"] == "greeting");
  CHECK(read["value"] == "h\xc3\xa9llo");
  CHECK_FALSE(read.contains("value_base64"));
  CHECK(read["timestamp"] == written["timestamp"]);
  CHECK(read["node"] == "n1");
  CHECK(service_.last_read()->r.kind == Consistency::Kind::kDefault);
}

TEST_CASE_METHOD(ApiFixture, "kv api: binary values round-trip through base64", "[api][kv]") {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  REQUIRE(put_json("/v1/kv/bin", {{"value_base64", base64_encode(bytes)}}).status == 200);
  CHECK(service_.record("bin")->value == bytes);
  const auto read = call("GET", "/v1/kv/bin").json();
  CHECK_FALSE(read.contains("value"));
  REQUIRE(read["value_base64"].is_string());
  CHECK(*base64_decode(read["value_base64"].get<std::string>()) == bytes);
}

TEST_CASE_METHOD(ApiFixture, "kv api: a raw octet-stream body is the value", "[api][kv]") {
  const std::string raw("\x00\x01{\"value\":1}\xff", 14);
  const TestResponse put =
      call("PUT", "/v1/kv/raw", raw, {{"Content-Type", "application/octet-stream"}});
  REQUIRE(put.status == 200);
  CHECK(service_.record("raw")->value == raw);
  const auto read = call("GET", "/v1/kv/raw").json();
  CHECK(*base64_decode(read["value_base64"].get<std::string>()) == raw);

  REQUIRE(call("PUT", "/v1/kv/text", "plain text", {{"Content-Type", "application/octet-stream"}})
              .status == 200);
  CHECK(call("GET", "/v1/kv/text").json()["value"] == "plain text");
  require_error(call("PUT", "/v1/kv/raw", std::string(kValueBytesMax + 1, 'x'),
                     {{"Content-Type", "application/octet-stream"}}),
                413, "too_large");
}

TEST_CASE_METHOD(ApiFixture, "kv api: keys are percent-decoded path segments", "[api][kv]") {
  REQUIRE(put_json("/v1/kv/a%2Fb", {{"value", "slash"}}).status == 200);
  CHECK(service_.last_write()->key == "a/b");
  // A raw '/' is part of the key too: "/v1/kv/a/b" names the same key.
  auto read = call("GET", "/v1/kv/a/b").json();
  CHECK(read["key"] == "a/b");
  CHECK(read["value"] == "slash");

  REQUIRE(put_json("/v1/kv/caf%C3%A9%20%2B+", {{"value", "v"}}).status == 200);
  CHECK(service_.last_write()->key == "caf\xc3\xa9 ++");
  CHECK(call("GET", "/v1/kv/caf%C3%A9%20%2B%2B").json()["key"] == "caf\xc3\xa9 ++");

  const std::string longest(kKeyBytesMax, 'k');
  CHECK(put_json("/v1/kv/" + longest, {{"value", "v"}}).status == 200);
}

TEST_CASE_METHOD(ApiFixture, "kv api: invalid keys are refused before the service", "[api][kv]") {
  const int writes = service_.writes();
  require_error(put_json("/v1/kv/", {{"value", "v"}}), 400, "invalid_key");
  require_error(put_json("/v1/kv/%FF", {{"value", "v"}}), 400, "invalid_key");
  require_error(put_json("/v1/kv/%G1", {{"value", "v"}}), 400, "invalid_key");
  require_error(put_json("/v1/kv/a%2", {{"value", "v"}}), 400, "invalid_key");
  require_error(put_json("/v1/kv/" + std::string(kKeyBytesMax + 1, 'k'), {{"value", "v"}}), 413,
                "key_too_large");
  require_error(call("GET", "/v1/kv/%C0%AF"), 400, "invalid_key");
  require_error(call("DELETE", "/v1/kv/"), 400, "invalid_key");
  CHECK(service_.writes() == writes);
  CHECK(service_.reads() == 0);
}

TEST_CASE_METHOD(ApiFixture, "kv api: r, w and sync query parameters", "[api][kv]") {
  REQUIRE(put_json("/v1/kv/k", {{"value", "v"}}).status == 200);

  CHECK(call("GET", "/v1/kv/k?r=2").status == 200);
  CHECK(service_.last_read()->r.kind == Consistency::Kind::kCount);
  CHECK(service_.last_read()->r.count == 2);
  CHECK(call("GET", "/v1/kv/k?r=quorum").status == 200);
  CHECK(service_.last_read()->r.kind == Consistency::Kind::kQuorum);
  CHECK(call("GET", "/v1/kv/k?foo=%ZZ&r=%61ll&w=nonsense").status == 200);  // w ignored on GET
  CHECK(service_.last_read()->r.kind == Consistency::Kind::kAll);
  CHECK(call("GET", "/v1/kv/k?r=one&r=5").status == 200);  // the first occurrence wins
  CHECK(service_.last_read()->r.kind == Consistency::Kind::kOne);

  CHECK(put_json("/v1/kv/k?w=one&sync=true", {{"value", "v"}}).status == 200);
  CHECK(service_.last_write()->w.kind == Consistency::Kind::kOne);
  CHECK(service_.last_write()->sync);
  CHECK(put_json("/v1/kv/k?w=3&sync=0", {{"value", "v"}}).status == 200);
  CHECK(service_.last_write()->w.count == 3);
  CHECK_FALSE(service_.last_write()->sync);

  const int reads = service_.reads();
  for (const char* bad : {"r=0", "r=4", "r=abc", "r=", "r", "r=-1", "r=1.5"}) {
    INFO(bad);
    require_error(call("GET", std::string("/v1/kv/k?") + bad), 400, "invalid_consistency");
  }
  CHECK(service_.reads() == reads);
  require_error(put_json("/v1/kv/k?w=4", {{"value", "v"}}), 400, "invalid_consistency");
  require_error(call("DELETE", "/v1/kv/k?w=zero"), 400, "invalid_consistency");
  require_error(put_json("/v1/kv/k?sync=yes", {{"value", "v"}}), 400, "invalid_sync");
  require_error(call("DELETE", "/v1/kv/k?sync=2"), 400, "invalid_sync");
}

TEST_CASE_METHOD(ApiFixture, "kv api: ttl_s is passed on and expired records read as 404",
                 "[api][kv]") {
  REQUIRE(put_json("/v1/kv/session", {{"value", "v"}, {"ttl_s", 5}}).status == 200);
  CHECK(service_.last_write()->ttl_s == 5);
  CHECK(call("GET", "/v1/kv/session").status == 200);
  clock_.advance_ms(4'999);
  CHECK(call("GET", "/v1/kv/session").status == 200);
  clock_.advance_ms(1);
  require_error(call("GET", "/v1/kv/session"), 404, "not_found");

  for (const nlohmann::json& ttl : {nlohmann::json(-1), nlohmann::json(1.5), nlohmann::json("5"),
                                    nlohmann::json(kTtlSecondsMax + 1)}) {
    INFO(ttl.dump());
    require_error(put_json("/v1/kv/session", {{"value", "v"}, {"ttl_s", ttl}}), 400, "invalid_ttl");
  }
}

TEST_CASE_METHOD(ApiFixture, "kv api: PUT body errors say what is wrong", "[api][kv]") {
  const int writes = service_.writes();
  require_error(call("PUT", "/v1/kv/k", "{not json", {{"Content-Type", "application/json"}}), 400,
                "invalid_json");
  require_error(call("PUT", "/v1/kv/k", "", {}), 400, "invalid_json");
  require_error(call("PUT", "/v1/kv/k", "[\"v\"]", {}), 400, "invalid_json");
  require_error(put_json("/v1/kv/k", {{"value", "v"}, {"ttl", 5}}), 400, "invalid_json");
  require_error(put_json("/v1/kv/k", nlohmann::json::object()), 400, "invalid_value");
  require_error(put_json("/v1/kv/k", {{"value", 5}}), 400, "invalid_value");
  require_error(put_json("/v1/kv/k", {{"value", "a"}, {"value_base64", "YQ=="}}), 400,
                "invalid_value");
  require_error(put_json("/v1/kv/k", {{"value_base64", "not base64!"}}), 400, "invalid_base64");
  require_error(put_json("/v1/kv/k", {{"value", std::string(kValueBytesMax + 1, 'x')}}), 413,
                "too_large");
  require_error(
      put_json("/v1/kv/k", {{"value_base64", base64_encode(std::string(kValueBytesMax + 1, 'x'))}}),
      413, "too_large");
  CHECK(service_.writes() == writes);
  CHECK(put_json("/v1/kv/k", {{"value", std::string(kValueBytesMax, 'x')}}).status == 200);
}

TEST_CASE_METHOD(ApiFixture, "kv api: DELETE writes a tombstone and tombstones read as 404",
                 "[api][kv]") {
  REQUIRE(put_json("/v1/kv/gone", {{"value", "v"}}).status == 200);
  const TestResponse deleted = call("DELETE", "/v1/kv/gone?w=all&sync=1");
  REQUIRE(deleted.status == 200);
  const auto doc = deleted.json();
  CHECK(doc["key"] == "gone");
  CHECK(doc["node"] == "n1");
  CHECK(doc["acks"] == 3);
  CHECK(doc["timestamp"].is_number_unsigned());
  const auto args = service_.last_write();
  CHECK(args->tombstone);
  CHECK(args->value.empty());
  CHECK(args->w.kind == Consistency::Kind::kAll);
  CHECK(args->sync);
  require_error(call("GET", "/v1/kv/gone"), 404, "not_found");

  Record tombstone;
  tombstone.tombstone = true;
  tombstone.ts = Timestamp{42};
  tombstone.origin = "n2";
  service_.put_record("t", tombstone);
  require_error(call("GET", "/v1/kv/t"), 404, "not_found");
  require_error(call("GET", "/v1/kv/never-written"), 404, "not_found");
}

TEST_CASE_METHOD(ApiFixture, "kv api: service statuses map to HTTP statuses", "[api][kv]") {
  struct Case {
    Status status;
    int http;
    const char* code;
  };
  const std::vector<Case> cases = {
      {Status::InvalidArgument("w > N"), 400, "invalid_argument"},
      {Status::NotFound("nope"), 404, "not_found"},
      {Status::TooLarge("big"), 413, "too_large"},
      {Status::Busy("queue full"), 429, "overloaded"},
      {Status::Unavailable("1 of 2 acks"), 503, "unavailable"},
      {Status::Timeout("deadline"), 504, "timeout"},
      {Status::Corruption("bad checksum"), 500, "internal"},
      {Status::IOError("disk"), 500, "internal"},
  };
  for (const Case& c : cases) {
    INFO(c.status.to_string());
    service_.fail_with(c.status, 1, 2);
    const TestResponse write = put_json("/v1/kv/k", {{"value", "v"}});
    require_error(write, c.http, c.code);
    const TestResponse read = call("GET", "/v1/kv/k");
    require_error(read, c.http, c.code);
    const TestResponse del = call("DELETE", "/v1/kv/k");
    require_error(del, c.http, c.code);
    if (c.http == 503 || c.http == 504) {
      CHECK(write.json()["acks"] == 1);
      CHECK(write.json()["required"] == 2);
      CHECK(read.json()["replies"] == 1);
      CHECK(read.json()["required"] == 2);
    }
    if (c.http == 500) {
      CHECK(write.json()["message"].get<std::string>().find(c.status.message()) !=
            std::string::npos);
    }
  }
  service_.fail_with(Status::OK());
  CHECK(put_json("/v1/kv/k", {{"value", "v"}}).status == 200);
}

TEST_CASE_METHOD(ApiFixture, "kv api: a completion from another thread is answered", "[api][kv]") {
  service_.set_hold(true);
  TestClient client(harness_.address());
  REQUIRE(client.send_request("PUT", "/v1/kv/later", R"({"value":"v"})"));
  REQUIRE(eventually([&] { return service_.held() == 1; }));
  service_.release_held();  // completes on this (test) thread
  auto response = client.read_response();
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->json()["key"] == "later");
  service_.set_hold(false);
  CHECK(call("GET", "/v1/kv/later").json()["value"] == "v");
}

TEST_CASE_METHOD(ApiFixture, "kv api: health, ready, cluster and metrics", "[api][kv]") {
  const TestResponse health = call("GET", "/v1/health");
  CHECK(health.status == 200);
  CHECK(health.json() == nlohmann::json{{"status", "ok"}});

  CHECK(call("GET", "/v1/ready").json() == nlohmann::json{{"ready", true}});
  service_.set_ready(false);
  require_error(call("GET", "/v1/ready"), 503, "not_ready");

  const auto cluster = call("GET", "/v1/cluster").json();
  CHECK(cluster["node"] == "n1");
  CHECK(cluster["replicas"] == 3);
  CHECK(cluster["members"].size() == 1);

  REQUIRE(put_json("/v1/kv/m", {{"value", "v"}}).status == 200);
  REQUIRE(call("GET", "/v1/kv/m").status == 200);
  REQUIRE(call("GET", "/v1/kv/missing").status == 404);
  const TestResponse metrics = call("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.header("content-type") == "text/plain; version=0.0.4");
  INFO(metrics.body);
  CHECK(metrics.body.find(R"(chorus_http_requests_total{op="put",code="200"} 1)") !=
        std::string::npos);
  CHECK(metrics.body.find(R"(chorus_http_requests_total{op="get",code="200"} 1)") !=
        std::string::npos);
  CHECK(metrics.body.find(R"(chorus_http_requests_total{op="get",code="404"} 1)") !=
        std::string::npos);
  CHECK(metrics.body.find(R"(chorus_http_requests_total{op="other",code="503"} 1)") !=
        std::string::npos);
  CHECK(metrics.body.find(R"(chorus_http_request_seconds_count{op="get"} 2)") != std::string::npos);
}

TEST_CASE_METHOD(ApiFixture, "kv api: debug routes", "[api][kv]") {
  const auto owners = call("GET", "/v1/debug/owners/a%2Fb").json();
  CHECK(owners["key"] == "a/b");
  CHECK(owners["owners"].size() == 3);
  require_error(call("GET", "/v1/debug/owners/%FF"), 400, "invalid_key");

  require_error(call("GET", "/v1/debug/local/nothing"), 404, "not_found");
  Record record;
  record.value = std::string("\xff\x00", 2);
  record.ts = Timestamp::from_parts(1'700'000'000'000, 3);
  record.origin = "n2";
  record.tombstone = false;
  record.epoch = 9;
  record.expiry_ms = 1'800'000'000'000;
  service_.put_record("x", record);
  const auto local = call("GET", "/v1/debug/local/x").json();
  CHECK(local["key"] == "x");
  CHECK(*base64_decode(local["value_base64"].get<std::string>()) == record.value);
  CHECK(local["timestamp"] == record.ts.packed);
  CHECK(local["node"] == "n2");
  CHECK(local["tombstone"] == false);
  CHECK(local["epoch"] == 9);
  CHECK(local["expiry_ms"] == record.expiry_ms);

  record.tombstone = true;  // the debug view shows tombstones as they are
  record.value.clear();
  service_.put_record("x", record);
  const auto dead = call("GET", "/v1/debug/local/x").json();
  CHECK(dead["tombstone"] == true);
  CHECK(dead["value"] == "");
}

TEST_CASE_METHOD(ApiFixture, "kv api: admin repair queues a sweep and reports status",
                 "[api][kv]") {
  CHECK(call("GET", "/v1/admin/repair").json()["queued"] == 0);
  const TestResponse posted = call("POST", "/v1/admin/repair");
  CHECK(posted.status == 202);
  CHECK(posted.json()["repair"] == "queued");
  CHECK(call("GET", "/v1/admin/repair").json()["queued"] == 1);
  const TestResponse wrong = call("DELETE", "/v1/admin/repair");
  require_error(wrong, 405, "method_not_allowed");
  CHECK(wrong.header("allow") == "POST, GET");
}

TEST_CASE_METHOD(ApiFixture, "kv api: unknown routes, wrong methods, not-yet-built routes",
                 "[api][kv]") {
  require_error(call("GET", "/nope"), 404, "not_found");
  require_error(call("GET", "/v1"), 404, "not_found");
  require_error(call("GET", "/v1/kvx/a"), 404, "not_found");

  const TestResponse post = call("POST", "/v1/kv/k", "{}");
  require_error(post, 405, "method_not_allowed");
  CHECK(post.header("allow") == "GET, PUT, DELETE");
  const TestResponse get_join = call("GET", "/v1/cluster/join");
  require_error(get_join, 405, "method_not_allowed");
  CHECK(get_join.header("allow") == "POST");
  require_error(call("DELETE", "/v1/health"), 405, "method_not_allowed");
  require_error(call("PUT", "/metrics", "x"), 405, "method_not_allowed");

  require_error(call("GET", "/v1/kv?prefix=a&limit=10"), 501, "not_implemented");
  require_error(call("POST", "/v1/cluster/nodes//decommission"), 404, "not_found");
  require_error(call("POST", "/v1/cluster/nodes/n2/explode"), 404, "not_found");
  CHECK(call("GET", "/v1/cluster/join").body.find("POST") != std::string::npos);
}

TEST_CASE_METHOD(ApiFixture, "kv api: membership changes reach the service and map its answer",
                 "[api][cluster]") {
  const auto accepted = call("POST", "/v1/cluster/nodes/n2/decommission");
  REQUIRE(accepted.status == 202);
  CHECK(accepted.json()["action"] == "decommission");
  CHECK(accepted.json()["id"] == "n2");
  REQUIRE(call("POST", "/v1/cluster/nodes/n3/remove").status == 202);
  const auto joined = call("POST", "/v1/cluster/join",
                           R"({"id":"n4","peer":"127.0.0.1:7004","http":"127.0.0.1:8084"})");
  REQUIRE(joined.status == 202);
  auto changes = service_.changes();
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].kind == MembershipChange::Kind::kDecommission);
  CHECK(changes[0].id == "n2");
  CHECK(changes[1].kind == MembershipChange::Kind::kRemove);
  CHECK(changes[1].id == "n3");
  CHECK(changes[2].kind == MembershipChange::Kind::kJoin);
  CHECK(changes[2].peer == "127.0.0.1:7004");

  // Bad input never reaches the service.
  require_error(call("POST", "/v1/cluster/nodes/bad%20id/decommission"), 400, "invalid_id");
  require_error(call("POST", "/v1/cluster/join", "{}"), 400, "invalid_request");
  require_error(call("POST", "/v1/cluster/join", "not json"), 400, "invalid_request");
  CHECK(service_.changes().size() == 3);

  service_.set_membership_status(Status::NotFound("n9 is not a member"));
  require_error(call("POST", "/v1/cluster/nodes/n9/decommission"), 404, "not_found");
  service_.set_membership_status(Status::Unavailable("no leader"));
  require_error(call("POST", "/v1/cluster/nodes/n2/remove"), 503, "unavailable");
  service_.set_membership_status(Status::Busy("a change is in flight"));
  require_error(call("POST", "/v1/cluster/nodes/n2/decommission"), 429, "busy");
}

TEST_CASE_METHOD(ApiFixture, "kv api: keeps serving on one connection after bad requests",
                 "[api][kv]") {
  TestClient client(harness_.address());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"PUT", "/v1/kv/%FF"}, {"GET", "/v1/kv/k?r=9"}, {"PATCH", "/v1/kv/k"}, {"GET", "/zzz"}};
  for (const auto& request : bad) {
    auto response = client.request(request.first, request.second, "{");
    REQUIRE(response);
    CHECK(response->status >= 400);
    CHECK(response->keep_alive);  // application errors do not cost the connection
    auto ok = client.request("GET", "/v1/health");
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
}

}  // namespace
}  // namespace chorus::test
