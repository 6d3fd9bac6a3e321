// fake_chorusd: a stand-in for chorusd with the same command line, used only by testkit's own
// unit tests so LocalCluster, KvClient and History can be exercised before (and independently
// of) the real node. Each fake node is a single in-memory replica: no replication, no cluster.
//
// It honours --id and --http host:port, accepts and ignores every other flag, and serves
// GET /v1/ready, GET /v1/health, and PUT/GET/DELETE /v1/kv/{key} with the real API's JSON shapes
// (timestamps are a per-process counter). --fake-exit-code N makes it exit at once with N, to
// test start-up failures; --fake-never-ready makes /v1/ready answer 503 forever.
//
// Thread-safety: cpp-httplib's worker threads share the store under one mutex.
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace {

struct Version {
  std::string value;
  uint64_t timestamp = 0;
};

class FakeStore {
 public:
  uint64_t put(const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t timestamp = ++clock_;
    data_[key] = {value, timestamp};
    return timestamp;
  }
  uint64_t del(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    data_.erase(key);
    return ++clock_;
  }
  bool get(const std::string& key, Version* version) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = data_.find(key);
    if (it == data_.end()) return false;
    *version = it->second;
    return true;
  }

 private:
  std::mutex mu_;
  uint64_t clock_ = 0;
  std::map<std::string, Version> data_;
};

void reply(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

void add_routes(httplib::Server& server, FakeStore& store, const std::string& id,
                bool never_ready) {
  server.Get("/v1/ready", [never_ready](const httplib::Request&, httplib::Response& res) {
    reply(res, never_ready ? 503 : 200, {{"ready", !never_ready}});
  });
  server.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"status", "ok"}});
  });
  server.Put(R"(/v1/kv/(.+))", [&store, id](const httplib::Request& req, httplib::Response& res) {
    auto body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("value") || !body["value"].is_string()) {
      return reply(res, 400, {{"error", "bad_request"}, {"message", "need {\"value\": string}"}});
    }
    uint64_t timestamp = store.put(req.matches[1], body["value"].get<std::string>());
    reply(res, 200, {{"key", req.matches[1]}, {"timestamp", timestamp}, {"node", id}, {"acks", 1}});
  });
  server.Get(R"(/v1/kv/(.+))", [&store, id](const httplib::Request& req, httplib::Response& res) {
    Version version;
    if (!store.get(req.matches[1], &version)) return reply(res, 404, {{"error", "not_found"}});
    reply(res, 200,
          {{"key", req.matches[1]},
           {"value", version.value},
           {"timestamp", version.timestamp},
           {"node", id}});
  });
  server.Delete(R"(/v1/kv/(.+))", [&store, id](const httplib::Request& req,
                                               httplib::Response& res) {
    uint64_t timestamp = store.del(req.matches[1]);
    reply(res, 200, {{"key", req.matches[1]}, {"timestamp", timestamp}, {"node", id}, {"acks", 1}});
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string id = "fake";
  std::string http = "127.0.0.1:8080";
  bool never_ready = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--fake-never-ready") never_ready = true;
    if (i + 1 == argc) break;
    if (flag == "--id") id = argv[i + 1];
    if (flag == "--http") http = argv[i + 1];
    if (flag == "--fake-exit-code") return std::atoi(argv[i + 1]);
  }
  size_t colon = http.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "fake_chorusd: bad --http %s\n", http.c_str());
    return 2;
  }
  FakeStore store;
  httplib::Server server;
  add_routes(server, store, id, never_ready);
  std::fprintf(stderr, "fake_chorusd %s listening on %s\n", id.c_str(), http.c_str());
  if (!server.listen(http.substr(0, colon).c_str(), std::atoi(http.c_str() + colon + 1))) {
    std::fprintf(stderr, "fake_chorusd %s: cannot listen on %s\n", id.c_str(), http.c_str());
    return 1;
  }
  return 0;
}
