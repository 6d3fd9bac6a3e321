// HttpServer against real sockets on 127.0.0.1: framing, keep-alive, limits, deadlines and
// overload, with a small echo handler. Every hostile case also checks the server keeps serving.
#include "api/http_server.h"

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "test_client.h"

namespace chorus::test {
namespace {

// Echoes the request as JSON. "/never" drops `respond` without calling it; "/throw" throws.
void echo_handler(HttpRequest request, HttpRespond respond) {
  if (request.path == "/never") return;
  if (request.path == "/throw") throw std::runtime_error("handler bug");
  nlohmann::json body{{"method", request.method}, {"target", request.target},
                      {"path", request.path},     {"query", request.query},
                      {"body", request.body},     {"content_type", request.content_type}};
  HttpResponse response;
  response.body = body.dump();
  response.headers.emplace_back("X-Echo", "1");
  respond(std::move(response));
}

HttpServerOptions small_limits() {
  HttpServerOptions options;
  options.header_bytes_max = 2048;
  options.body_bytes_max = 1024;
  options.header_timeout_ms = 400;
  options.body_timeout_ms = 400;
  options.idle_timeout_ms = 10'000;
  options.handler_timeout_ms = 300;
  return options;
}

// The server still answers a normal request on a new connection.
void require_serving(const std::string& address) {
  auto response = http_request(address, "GET", "/still-up");
  REQUIRE(response);
  CHECK(response->status == 200);
}

TEST_CASE("http server: a request reaches the handler and keep-alive serves several",
          "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  TestClient client(harness.address());
  REQUIRE(client.connected());
  for (int i = 0; i < 3; ++i) {
    auto response = client.request("PUT", "/a%2Fb/c?x=1&y=%20", "body " + std::to_string(i),
                                   {{"Content-Type", "text/plain"}});
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->keep_alive);
    CHECK(response->header("content-type") == "application/json");
    CHECK(response->header("x-echo") == "1");
    const auto doc = response->json();
    CHECK(doc["method"] == "PUT");
    CHECK(doc["target"] == "/a%2Fb/c?x=1&y=%20");
    CHECK(doc["path"] == "/a%2Fb/c");  // raw, not decoded
    CHECK(doc["query"] == "x=1&y=%20");
    CHECK(doc["body"] == "body " + std::to_string(i));
    CHECK(doc["content_type"] == "text/plain");
  }
}

TEST_CASE("http server: pipelined requests are answered in order", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  TestClient client(harness.address());
  REQUIRE(client.send("GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto first = client.read_response();
  auto second = client.read_response();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->json()["path"] == "/one");
  CHECK(second->json()["path"] == "/two");
}

TEST_CASE("http server: Connection: close and HTTP/1.0 close after the response", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  {
    TestClient client(harness.address());
    REQUIRE(client.send_request("GET", "/x", "", {{"Connection", "close"}}));
    auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK_FALSE(response->keep_alive);
    CHECK(response->header("connection") == "close");
    CHECK(client.wait_closed(2'000));
  }
  {
    TestClient client(harness.address());
    REQUIRE(client.send_request("GET", "/x", "", {}, /*minor_version=*/0));
    auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(client.wait_closed(2'000));
  }
  {  // HTTP/1.0 asking for keep-alive gets it
    TestClient client(harness.address());
    REQUIRE(client.send_request("GET", "/x", "", {{"Connection", "keep-alive"}}, 0));
    auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->keep_alive);
    auto again = client.request("GET", "/y");
    REQUIRE(again);
    CHECK(again->status == 200);
  }
}

TEST_CASE("http server: chunked bodies and Expect: 100-continue", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  TestClient client(harness.address());
  REQUIRE(
      client.send("PUT /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto response = client.read_response();
  REQUIRE(response);
  CHECK(response->json()["body"] == "hello world");

  REQUIRE(
      client.send("PUT /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                  "Expect: 100-continue\r\n\r\n"));
  auto interim = client.read_response();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  REQUIRE(client.send("abc"));
  auto final_response = client.read_response();
  REQUIRE(final_response);
  CHECK(final_response->status == 200);
  CHECK(final_response->json()["body"] == "abc");
}

TEST_CASE("http server: header over the limit is 431 and the connection closes", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  TestClient client(harness.address());
  REQUIRE(
      client.send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n"));
  auto response = client.read_response();
  REQUIRE(response);
  CHECK(response->status == 431);
  CHECK(response->error() == "header_too_large");
  CHECK(client.wait_closed(3'000));
  require_serving(harness.address());
}

TEST_CASE("http server: body over the limit is 413 and the connection closes", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  SECTION("declared by Content-Length: answered before the body is sent") {
    TestClient client(harness.address());
    REQUIRE(client.send("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n"));
    auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 413);
    CHECK(response->error() == "too_large");
    CHECK(client.wait_closed(3'000));
  }
  SECTION("chunked body growing past the limit") {
    TestClient client(harness.address());
    std::string request = "PUT /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 8; ++i) request += "100\r\n" + std::string(256, 'z') + "\r\n";
    request += "0\r\n\r\n";
    REQUIRE(client.send(request));
    auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 413);
    CHECK(response->error() == "too_large");
    CHECK(client.wait_closed(3'000));
  }
  SECTION("a body of exactly the limit is accepted") {
    auto response = http_request(harness.address(), "PUT", "/ok", std::string(1024, 'b'));
    REQUIRE(response);
    CHECK(response->status == 200);
  }
  require_serving(harness.address());
}

TEST_CASE("http server: malformed HTTP is 400 bad_request and the connection closes",
          "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  for (const char* garbage :
       {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    INFO(garbage);
    TestClient client(harness.address());
    REQUIRE(client.send(garbage));
    auto response = client.read_response();
    REQUIRE(response);
    CHECK(response->status == 400);
    CHECK(response->error() == "bad_request");
    CHECK_FALSE(response->keep_alive);
    CHECK(client.wait_closed(3'000));
    require_serving(harness.address());
  }
}

TEST_CASE("http server: a slowloris client is cut off while others are served", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);  // header deadline 400 ms
  TestClient slow(harness.address());
  REQUIRE(slow.connected());
  const auto start = std::chrono::steady_clock::now();
  // Trickle one header byte at a time; between bytes wait (with a deadline) for the server to
  // hang up. An endless header line keeps the request incomplete however long this runs.
  const std::string prefix = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ";
  bool closed = false;
  std::string received;
  for (size_t i = 0; i < 1'000 && !closed; ++i) {
    const char byte = i < prefix.size() ? prefix[i] : 'a';
    if (!slow.send(std::string_view(&byte, 1))) {
      closed = true;
      break;
    }
    if (i == 3) {  // meanwhile, another client is served normally
      TestClient other(harness.address());
      for (int k = 0; k < 3; ++k) {
        auto response = other.request("GET", "/other");
        REQUIRE(response);
        CHECK(response->status == 200);
      }
    }
    closed = slow.wait_closed(20, &received);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(closed);
  CHECK(received.empty());  // cut off without an answer
  CHECK(elapsed < std::chrono::seconds(5));
  require_serving(harness.address());
}

TEST_CASE("http server: a silent connection and a stalled body are closed", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  TestClient silent(harness.address());
  REQUIRE(silent.connected());
  std::string received;
  CHECK(silent.wait_closed(5'000, &received));
  CHECK(received.empty());

  TestClient stalled(harness.address());
  REQUIRE(stalled.send("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly some"));
  CHECK(stalled.wait_closed(5'000, &received));
  CHECK(received.empty());
  require_serving(harness.address());
}

TEST_CASE("http server: an idle keep-alive connection is closed after idle_timeout_ms",
          "[api][http]") {
  HttpServerOptions options = small_limits();
  options.idle_timeout_ms = 200;
  ServerHarness harness(options, echo_handler);
  TestClient client(harness.address());
  auto response = client.request("GET", "/x");
  REQUIRE(response);
  CHECK(response->keep_alive);
  const auto start = std::chrono::steady_clock::now();
  CHECK(client.wait_closed(5'000));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(150));
}

TEST_CASE("http server: a handler that never responds gets a 504", "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  TestClient client(harness.address());
  auto response = client.request("GET", "/never");
  REQUIRE(response);
  CHECK(response->status == 504);
  CHECK(response->error() == "timeout");
  auto next = client.request("GET", "/after");  // the connection is still usable
  REQUIRE(next);
  CHECK(next->status == 200);
}

TEST_CASE("http server: a throwing handler gets a 500 and the server keeps serving",
          "[api][http]") {
  ServerHarness harness(small_limits(), echo_handler);
  TestClient client(harness.address());
  auto response = client.request("GET", "/throw");
  REQUIRE(response);
  CHECK(response->status == 500);
  CHECK(response->error() == "internal");
  require_serving(harness.address());
}

TEST_CASE("http server: respond may be called late - from another thread - and only once counts",
          "[api][http]") {
  std::mutex mu;
  std::vector<HttpRespond> parked;
  ServerHarness harness(small_limits(), [&](HttpRequest, HttpRespond respond) {
    std::lock_guard<std::mutex> lock(mu);
    parked.push_back(std::move(respond));
  });
  TestClient client(harness.address());
  REQUIRE(client.send_request("GET", "/park"));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return parked.size() == 1;
  }));
  HttpRespond respond;
  {
    std::lock_guard<std::mutex> lock(mu);
    respond = parked.front();
  }
  respond(HttpResponse{201, "text/plain", "first", {}});
  respond(HttpResponse{202, "text/plain", "second", {}});  // ignored
  auto response = client.read_response();
  REQUIRE(response);
  CHECK(response->status == 201);
  CHECK(response->body == "first");
}

TEST_CASE("http server: connections beyond connections_max get 429", "[api][http]") {
  HttpServerOptions options = small_limits();
  options.connections_max = 2;
  options.header_timeout_ms = 10'000;
  ServerHarness harness(options, echo_handler);
  auto first = std::make_unique<TestClient>(harness.address());
  TestClient second(harness.address());
  // A completed request proves each connection was accepted and counted.
  REQUIRE(first->request("GET", "/1"));
  REQUIRE(second.request("GET", "/2"));

  TestClient third(harness.address());
  REQUIRE(third.send_request("GET", "/3"));
  auto rejected = third.read_response();
  REQUIRE(rejected);
  CHECK(rejected->status == 429);
  CHECK(rejected->error() == "overloaded");
  CHECK(third.wait_closed(3'000));

  first.reset();  // frees a slot once the server notices
  CHECK(eventually([&] {
    auto response = http_request(harness.address(), "GET", "/4");
    return response && response->status == 200;
  }));
  auto still = second.request("GET", "/5");
  REQUIRE(still);
  CHECK(still->status == 200);
  CHECK(harness.metrics().render().find(
            "chorus_http_connection_errors_total{reason=\"overloaded\"}") != std::string::npos);
}

TEST_CASE("http server: 300 concurrent keep-alive connections are all served", "[api][http]") {
  constexpr int kConnections = 300;
  constexpr int kRounds = 4;
  HttpServerOptions options;
  options.connections_max = 1024;
  ServerHarness harness(options, echo_handler);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<TestClient>(harness.address()));
    REQUIRE(clients.back()->connected());
  }
  int answered = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Every connection has a request in flight at once before any response is read.
    for (int i = 0; i < kConnections; ++i) {
      REQUIRE(clients[i]->send_request("PUT", "/c/" + std::to_string(i), std::to_string(round)));
    }
    for (int i = 0; i < kConnections; ++i) {
      auto response = clients[i]->read_response(10'000);
      REQUIRE(response);
      REQUIRE(response->status == 200);
      const auto doc = response->json();
      CHECK(doc["path"] == "/c/" + std::to_string(i));
      CHECK(doc["body"] == std::to_string(round));
      ++answered;
    }
  }
  CHECK(answered == kConnections * kRounds);
}

TEST_CASE("http server: listen errors and close()", "[api][http]") {
  boost::asio::io_context io;
  HttpServer server(io, HttpServerOptions{}, echo_handler, nullptr);
  CHECK(server.local_address().empty());
  CHECK(server.listen("no-port").code() == Status::Code::kInvalidArgument);
  CHECK(server.listen("127.0.0.1:99999").code() == Status::Code::kInvalidArgument);
  REQUIRE(server.listen("127.0.0.1:0").ok());
  CHECK(server.listen("127.0.0.1:0").code() == Status::Code::kInvalidArgument);

  HttpServer clash(io, HttpServerOptions{}, echo_handler, nullptr);
  CHECK(clash.listen(server.local_address()).code() == Status::Code::kIOError);

  ServerHarness harness(small_limits(), echo_handler);
  TestClient open_connection(harness.address());
  REQUIRE(open_connection.request("GET", "/x"));
  harness.server().close();
  harness.server().close();  // idempotent
  CHECK(open_connection.wait_closed(3'000));
  CHECK(eventually([&] { return !TestClient(harness.address()).connected(); }));
}

}  // namespace
}  // namespace chorus::test
