// KubeClient and WatchState against FakeApiServer over real HTTP: CRUD answers, optimistic
// concurrency, the token re-read after a 401, and a watch that resumes, ends on compaction and
// is told 410 when it resumes from a compacted version.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "core/clock.h"
#include "k8s/operator/kube_client.h"
#include "k8s/operator/watch_state.h"
#include "tests/operator/fake_apiserver.h"
#include "tests/testkit/client.h"

namespace chorus::testkit {
namespace {

using nlohmann::json;
using op::KubeClient;

const std::string kCollection = "/apis/chorus.io/v1alpha1/namespaces/ns/chorusclusters";

json object(const std::string& name, int replicas) {
  return {{"metadata", {{"name", name}}}, {"spec", {{"replicas", replicas}}}};
}

TEST_CASE("kube client: create get replace with conflicts and merge patch", "[operator]") {
  FakeApiServer api;
  REQUIRE(api.start().ok());
  SystemClock clock;
  op::KubeConfig config;
  config.server = api.url();
  KubeClient client(config, {}, &clock);

  auto created = client.create(kCollection, object("a", 3));
  REQUIRE(created.ok());
  CHECK(created->http_status == 201);
  auto again = client.create(kCollection, object("a", 3));
  REQUIRE(again.ok());
  CHECK(again->http_status == 409);

  auto read = client.get(kCollection + "/a");
  REQUIRE(read.ok());
  REQUIRE(read->http_status == 200);
  json stale = read->body;
  json fresh = read->body;
  fresh["spec"]["replicas"] = 4;
  auto put = client.replace(kCollection + "/a", fresh);
  REQUIRE(put.ok());
  CHECK(put->http_status == 200);
  CHECK(put->body["metadata"].value("generation", 0) == 2);
  // The version read before the first PUT is stale now.
  stale["spec"]["replicas"] = 5;
  auto conflict = client.replace(kCollection + "/a", stale);
  REQUIRE(conflict.ok());
  CHECK(conflict->http_status == 409);
  CHECK(conflict->message().find("modified") != std::string::npos);

  auto patched = client.merge_patch(kCollection + "/a/status", {{"status", {{"epoch", 7}}}});
  REQUIRE(patched.ok());
  CHECK(patched->body["status"].value("epoch", 0) == 7);
  CHECK(patched->body["spec"].value("replicas", 0) == 4);
  CHECK(client.get(kCollection + "/missing")->http_status == 404);
}

TEST_CASE("kube client: a rotated token file is read again after a 401", "[operator]") {
  FakeApiServer api;
  REQUIRE(api.start().ok());
  char templ[] = "/tmp/chorus-token-XXXXXX";
  REQUIRE(::mkdtemp(templ) != nullptr);
  const std::string token_file = std::string(templ) + "/token";
  std::ofstream(token_file) << "old\n";
  api.set_tokens({"old"});
  ManualClock clock;
  op::KubeConfig config;
  config.server = api.url();
  config.token_file = token_file;
  KubeClient client(config, {}, &clock);
  CHECK(client.get(kCollection)->http_status == 200);
  std::ofstream(token_file, std::ios::trunc) << "new\n";
  api.set_tokens({"new"});
  // Well within the re-read period: only the 401 makes the client read the file again.
  CHECK(client.get(kCollection)->http_status == 200);
  CHECK(api.requests_with_token("new") == 1);
  CHECK(api.served("GET 401") == 1);
  std::remove(token_file.c_str());
  ::rmdir(templ);
}

TEST_CASE("kube client: watch resumes from a version and is told 410 after compaction",
          "[operator]") {
  FakeApiServer api;
  REQUIRE(api.start().ok());
  SystemClock clock;
  op::KubeConfig config;
  config.server = api.url();
  KubeClient client(config, {}, &clock);
  REQUIRE(client.create(kCollection, object("a", 3))->http_status == 201);

  op::WatchState state;
  auto list = client.get(kCollection);
  REQUIRE(list.ok());
  CHECK(state.listed(list->body).size() == 1);
  REQUIRE_FALSE(state.resource_version().empty());

  // Changes after the list arrive through the watch; compaction ends it.
  std::vector<std::string> seen;
  std::thread writer([&] {
    REQUIRE(poll_until(10'000, [&] { return api.served("WATCH 200") == 1; }));
    REQUIRE(api.patch(kCollection + "/a", {{"spec", {{"replicas", 4}}}}).ok());
    REQUIRE(poll_until(10'000, [&] { return seen.size() == 1; }));
    // Something else changes (the watch is not told: another collection), then the history
    // goes: the watcher's version is older than anything the server still has.
    api.put("/api/v1/namespaces/ns/pods/p", {{"metadata", {{"name", "p"}}}});
    api.compact();
  });
  Status st = client.watch(kCollection + "?" + state.watch_query(20), 20, [&](const json& e) {
    const op::WatchEvent event = state.on_event(e);
    if (event.kind == op::WatchEventKind::kUpsert) {
      seen.push_back(std::to_string(event.object["spec"].value("replicas", 0)));
    }
    return true;
  });
  writer.join();
  CHECK(st.ok());
  REQUIRE(seen == std::vector<std::string>{"4"});

  // Resuming from a version the server no longer has: 410, and the state asks for a list.
  bool relist = false;
  st = client.watch(kCollection + "?" + state.watch_query(20), 20, [&](const json& e) {
    relist = state.on_event(e).kind == op::WatchEventKind::kRelist;
    return false;
  });
  CHECK(st.ok());
  CHECK(relist);
  CHECK(state.resource_version().empty());
  CHECK(api.served("WATCH 410") == 1);
}

}  // namespace
}  // namespace chorus::testkit
