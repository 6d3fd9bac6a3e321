// KvClient against an in-process cpp-httplib server speaking the node API's shapes; percent
// encoding; reply -> history outcome mapping; poll_until.
#include "tests/testkit/client.h"

#include <httplib.h>

#include <catch2/catch.hpp>

#include <mutex>
#include <thread>

namespace chorus::testkit {
namespace {

// Serves canned node-API replies on 127.0.0.1:<any port> from a background thread.
class FakeApi {
 public:
  FakeApi() {
    server_.Put(R"(/v1/kv/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);  // read by the test thread
        last_put_ = {req.matches[1], req.body, req.get_param_value("w")};
      }
      if (req.matches[1] == "down") {
        res.status = 503;
        res.set_content(R"({"error":"unavailable","acks":1,"required":2})", "application/json");
        return;
      }
      res.set_content(R"({"key":"k","timestamp":12345678901234,"node":"n1","acks":3})",
                      "application/json");
    });
    server_.Get(R"(/v1/kv/(.+))", [](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] == "bin") {
        res.set_content(R"({"key":"bin","value_base64":"/wBh","timestamp":7,"node":"n2"})",
                        "application/json");
      } else if (req.matches[1] == "text") {
        res.set_content(R"({"key":"text","value":"hello","timestamp":9,"node":"n3"})",
                        "application/json");
      } else {
        res.status = 404;
        res.set_content(R"({"error":"not_found","message":"no such key"})", "application/json");
      }
    });
    server_.Get("/v1/cluster", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"node":"n1","epoch":4})", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    REQUIRE(poll_until(
        5000, [this] { return server_.is_running(); }, 5));
  }
  ~FakeApi() {
    server_.stop();
    thread_.join();
  }

  struct Put {
    std::string key, body, w;
  };
  int port() const { return port_; }
  Put last_put() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_put_;
  }

 private:
  std::mutex mu_;
  Put last_put_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_CASE("KvClient parses write replies", "[client]") {
  FakeApi api;
  KvClient client("127.0.0.1", api.port());
  WriteReply ok = client.put("a/b c", "v1", 2);
  CHECK(ok.http_status == 200);
  CHECK(ok.ok());
  CHECK(ok.timestamp == 12345678901234ULL);
  CHECK(ok.acks == 3);
  CHECK(ok.node == "n1");
  CHECK(api.last_put().key == "a/b c");
  CHECK(api.last_put().w == "2");
  CHECK(nlohmann::json::parse(api.last_put().body) == nlohmann::json{{"value", "v1"}});

  WriteReply down = client.put("down", "v2", "all");
  CHECK(down.http_status == 503);
  CHECK(down.error == "unavailable");
  CHECK(down.acks == 1);
  CHECK(down.required == 2);
  CHECK(api.last_put().w == "all");

  // Not valid UTF-8: sent as value_base64.
  CHECK(client.put("bin", std::string("\xff\x00\x61", 3)).ok());
  CHECK(nlohmann::json::parse(api.last_put().body) == nlohmann::json{{"value_base64", "/wBh"}});
}

TEST_CASE("KvClient parses read replies", "[client]") {
  FakeApi api;
  KvClient client = KvClient::from_address("127.0.0.1:" + std::to_string(api.port()));
  ReadReply text = client.get("text", "quorum");
  CHECK(text.ok());
  CHECK(text.value == std::optional<std::string>("hello"));
  CHECK(text.timestamp == 9);
  CHECK(text.node == "n3");
  ReadReply bin = client.get("bin");
  CHECK(bin.value == std::optional<std::string>(std::string("\xff\x00\x61", 3)));
  ReadReply missing = client.get("nope");
  CHECK(missing.not_found());
  CHECK_FALSE(missing.value.has_value());
  CHECK(missing.error == "not_found");

  JsonReply cluster = client.get_json("/v1/cluster");
  CHECK(cluster.http_status == 200);
  CHECK(cluster.json["epoch"] == 4);
}

TEST_CASE("a connection failure is status 0 with the reason", "[client]") {
  int port = 0;
  { port = FakeApi().port(); }  // a port that was just free and is closed again
  ClientOptions options;
  options.connect_timeout_ms = 500;
  KvClient client("127.0.0.1", port, options);
  WriteReply write = client.put("k", "v");
  CHECK(write.http_status == 0);
  CHECK_FALSE(write.error.empty());
  CHECK(to_write_outcome(write).kind == WriteOutcome::Kind::kIndeterminate);
  ReadReply read = client.get("k");
  CHECK(read.http_status == 0);
  CHECK(to_read_outcome(read).kind == ReadOutcome::Kind::kFailed);
}

TEST_CASE("replies map to history outcomes", "[client]") {
  WriteReply reply;
  reply.http_status = 200;
  reply.timestamp = 5;
  CHECK(to_write_outcome(reply).kind == WriteOutcome::Kind::kOk);
  CHECK(to_write_outcome(reply).timestamp == 5);
  reply.http_status = 400;
  CHECK(to_write_outcome(reply).kind == WriteOutcome::Kind::kFailed);
  reply.http_status = 503;
  CHECK(to_write_outcome(reply).kind == WriteOutcome::Kind::kIndeterminate);
  reply.http_status = 504;
  CHECK(to_write_outcome(reply).kind == WriteOutcome::Kind::kIndeterminate);

  ReadReply read;
  read.http_status = 200;
  read.value = "v";
  read.timestamp = 3;
  CHECK(to_read_outcome(read).kind == ReadOutcome::Kind::kOk);
  CHECK(to_read_outcome(read).value == "v");
  read.http_status = 404;
  read.value.reset();
  CHECK(to_read_outcome(read).kind == ReadOutcome::Kind::kNotFound);
  read.http_status = 503;
  CHECK(to_read_outcome(read).kind == ReadOutcome::Kind::kFailed);
}

TEST_CASE("poll_until returns once the predicate holds - or false at the deadline", "[client]") {
  CHECK(poll_until(0, [] { return true; }));
  int calls = 0;
  CHECK(poll_until(
      5000, [&] { return ++calls == 3; }, 1));
  CHECK(calls == 3);
  calls = 0;
  CHECK_FALSE(poll_until(
      30, [&] { return ++calls < 0; }, 5));
  CHECK(calls >= 2);  // first try and the one at the deadline
}

}  // namespace
}  // namespace chorus::testkit
