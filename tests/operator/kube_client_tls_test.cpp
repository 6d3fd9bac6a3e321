// KubeClient over HTTPS, as in a pod: the API server's certificate is verified against the
// configured CA bundle (the service account's ca.crt), and a server the CA did not sign is
// refused. The certificate is made for the test with the openssl tool.
#include <unistd.h>

#include <httplib.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/clock.h"
#include "k8s/operator/kube_client.h"
#include "tests/testkit/process.h"

namespace chorus::testkit {
namespace {

// A self-signed certificate for 127.0.0.1 in dir/{cert,key}.pem; false if openssl failed.
bool make_certificate(const std::string& dir, const std::string& name) {
  auto p = Process::start("/usr/bin/openssl",
                          {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                           "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                           dir + "/" + name + "-key.pem", "-out", dir + "/" + name + "-cert.pem"},
                          dir + "/openssl.log");
  if (!p.ok()) return false;
  auto status = (*p)->wait_exit(60'000);
  return status && *status == 0;
}

TEST_CASE("kube client: HTTPS with the CA bundle verifies the API server", "[operator]") {
  if (!std::filesystem::exists("/usr/bin/openssl"))
    FAIL("the openssl tool is needed (apt-get install openssl)");
  char templ[] = "/tmp/chorus-tls-XXXXXX";
  REQUIRE(::mkdtemp(templ) != nullptr);
  const std::string dir = templ;
  REQUIRE(make_certificate(dir, "api"));
  REQUIRE(make_certificate(dir, "other"));

  httplib::SSLServer server((dir + "/api-cert.pem").c_str(), (dir + "/api-key.pem").c_str());
  REQUIRE(server.is_valid());
  server.Get(".*", [](const httplib::Request& req, httplib::Response& res) {
    const bool authorized = req.get_header_value("Authorization") == "Bearer sa-token";
    res.status = authorized ? 200 : 401;
    res.set_content(authorized ? R"({"kind":"List","items":[]})" : R"({"message":"no"})",
                    "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread serving([&] { server.listen_after_bind(); });

  SystemClock clock;
  op::KubeConfig config;
  config.server = "https://127.0.0.1:" + std::to_string(port);
  config.token = "sa-token";
  config.ca_file = dir + "/api-cert.pem";
  {
    op::KubeClient client(config, {}, &clock);
    auto r = client.get("/api/v1/namespaces/chorus/pods");
    REQUIRE(r.ok());
    CHECK(r->http_status == 200);
    CHECK(r->body["kind"] == "List");
  }
  config.ca_file = dir + "/other-cert.pem";  // a CA that did not sign the server
  {
    op::KubeClient client(config, {}, &clock);
    auto r = client.get("/api/v1/namespaces/chorus/pods");
    CHECK_FALSE(r.ok());
  }
  server.stop();
  serving.join();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chorus::testkit
