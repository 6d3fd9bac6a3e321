// Kubeconfig and in-cluster configuration.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "k8s/operator/kube_config.h"

namespace chorus::op {
namespace {

std::string temp_dir() {
  char templ[] = "/tmp/chorus-kubeconfig-XXXXXX";
  REQUIRE(::mkdtemp(templ) != nullptr);
  return templ;
}

const char* kConfig = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.crt
- name: proxy
  cluster:
    server: http://127.0.0.1:8001
contexts:
- name: dev
  context: {cluster: local, user: admin, namespace: chorus}
- name: via-proxy
  context: {cluster: proxy, user: rotating}
- name: plugin
  context: {cluster: local, user: cloud}
- name: broken
  context: {cluster: nowhere, user: admin}
users:
- name: admin
  user:
    token: abc
    client-certificate-data: aGVsbG8=
    client-key: /etc/keys/admin.key
- name: rotating
  user:
    tokenFile: /var/run/token
- name: cloud
  user:
    exec: {command: gke-gcloud-auth-plugin}
)";

TEST_CASE("kubeconfig: the current context gives server, CA, namespace and credentials") {
  const std::string scratch = temp_dir();
  auto c = parse_kubeconfig(kConfig, "", "/home/me/.kube", scratch);
  REQUIRE(c.ok());
  CHECK(c->server == "https://10.0.0.1:6443");
  CHECK(c->ca_file == "/home/me/.kube/ca.crt");
  CHECK(c->namespace_ == "chorus");
  CHECK(c->token == "abc");
  CHECK(c->client_key_file == "/etc/keys/admin.key");
  // Inline data lands in a private file.
  REQUIRE_FALSE(c->client_cert_file.empty());
  std::ifstream cert(c->client_cert_file);
  std::string text((std::istreambuf_iterator<char>(cert)), {});
  CHECK(text == "hello");
  struct stat st {};
  REQUIRE(::stat(c->client_cert_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::remove(c->client_cert_file.c_str());
  ::rmdir(c->client_cert_file.substr(0, c->client_cert_file.rfind('/')).c_str());
  ::rmdir(scratch.c_str());
}

TEST_CASE("kubeconfig: a named context with a token file") {
  auto c = parse_kubeconfig(kConfig, "via-proxy", "/home/me/.kube", "/tmp");
  REQUIRE(c.ok());
  CHECK(c->server == "http://127.0.0.1:8001");
  CHECK(c->token_file == "/var/run/token");
  CHECK(c->namespace_.empty());
}

TEST_CASE("kubeconfig: what cannot work is refused with the reason") {
  auto plugin = parse_kubeconfig(kConfig, "plugin", ".", "/tmp");
  REQUIRE_FALSE(plugin.ok());
  CHECK(plugin.status().to_string().find("exec") != std::string::npos);
  CHECK_FALSE(parse_kubeconfig(kConfig, "missing", ".", "/tmp").ok());
  CHECK_FALSE(parse_kubeconfig(kConfig, "broken", ".", "/tmp").ok());
  CHECK_FALSE(parse_kubeconfig("clusters: [unclosed", "", ".", "/tmp").ok());
  CHECK_FALSE(parse_kubeconfig("kind: Config\n", "", ".", "/tmp").ok());
}

TEST_CASE("in-cluster config: the service account directory and the service address") {
  const std::string sa = temp_dir();
  CHECK_FALSE(in_cluster_config("", "", sa).ok());
  CHECK_FALSE(in_cluster_config("10.96.0.1", "443", sa).ok());  // no token yet
  std::ofstream(sa + "/token") << "t0ken\n";
  std::ofstream(sa + "/namespace") << "chorus\n";
  auto c = in_cluster_config("10.96.0.1", "443", sa);
  REQUIRE(c.ok());
  CHECK(c->server == "https://10.96.0.1:443");
  CHECK(c->token_file == sa + "/token");
  CHECK(c->ca_file == sa + "/ca.crt");
  CHECK(c->namespace_ == "chorus");
  CHECK(in_cluster_config("fd00::1", "443", sa)->server == "https://[fd00::1]:443");
  auto token = read_small_file(sa + "/token");
  REQUIRE(token.ok());
  CHECK(*token == "t0ken");
  std::remove((sa + "/token").c_str());
  std::remove((sa + "/namespace").c_str());
  ::rmdir(sa.c_str());
}

}  // namespace
}  // namespace chorus::op
