// FakeApiServer: the subset of the Kubernetes API server the operator uses, for end-to-end tests
// on a machine without Kubernetes. Real HTTP (cpp-httplib) on 127.0.0.1, real semantics for what
// the operator relies on:
//   - namespaced collections under /api/v1 and /apis/{group}/{version}: GET (item, list with
//     labelSelector k=v[,k=v]), POST (409 AlreadyExists), PUT (409 Conflict when
//     metadata.resourceVersion is stale), PATCH application/merge-patch+json, DELETE; the
//     /status subresource (status only; writes to the main resource keep the status);
//     metadata.generation bumped on spec changes; uid and creationTimestamp on create;
//   - one global resourceVersion; watch=1 streams newline-delimited events from a bounded
//     history, and answers a resourceVersion older than the history with an ERROR 410 event;
//   - bearer-token authentication (401 Unauthorized otherwise), tokens replaceable at run time.
// Fault injection: fail_next() answers the next matching requests with a given status;
// compact() drops the history (the next resumed watch gets 410) and ends open watches.
//
// The tests' own actors (the StatefulSet simulator acting as controller and kubelet, and the
// test acting as kubectl) use the direct methods, which take the same lock and emit the same
// events as HTTP requests.
//
// Thread-safety: every method is thread-safe (one mutex; watches wait on a condition variable).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "core/status.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace chorus::testkit {

inline constexpr size_t kWatchHistoryMax = 20'000;

class FakeApiServer {
 public:
  FakeApiServer();
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Listens on 127.0.0.1, a free port.
  [[nodiscard]] Status start();
  void stop();
  std::string url() const;

  void set_tokens(std::set<std::string> tokens);

  // Direct access; paths are API item paths ("/apis/apps/v1/namespaces/ns/statefulsets/x").
  std::optional<nlohmann::json> get(const std::string& path);
  std::vector<nlohmann::json> list(const std::string& collection_path);
  // Creates or replaces (a controller's write); returns the stored object.
  nlohmann::json put(const std::string& path, nlohmann::json object);
  // Merge-patches an existing object (kubectl patch --type merge); NotFound if absent.
  [[nodiscard]] Status patch(const std::string& path, const nlohmann::json& patch);
  void remove(const std::string& path);

  // The next `count` requests whose method is `method` and whose path contains `path_part` are
  // answered with `http_status` (and a Status body) without being applied.
  void fail_next(const std::string& method, const std::string& path_part, int http_status,
                 int count);
  void compact();

  // Requests answered with each status, by method ("GET 410", "PUT 409", "PATCH 200", ...);
  // watches count as "WATCH <status>".
  uint64_t served(const std::string& method_and_status);
  // Requests that carried `token`.
  uint64_t requests_with_token(const std::string& token);

 private:
  struct Event {
    uint64_t rv;
    std::string collection;
    std::string type;
    nlohmann::json object;
  };
  struct Fault {
    std::string method;
    std::string path_part;
    int http_status;
    int remaining;
  };

  void handle(const httplib::Request& req, httplib::Response& res);
  void watch(const std::string& collection, const std::string& selector, uint64_t from_rv,
             int timeout_s, httplib::Response& res);
  // Requires mu_.
  nlohmann::json store_locked(const std::string& path, nlohmann::json object, bool created);
  void emit_locked(const std::string& type, const std::string& path, const nlohmann::json& object);
  void count_locked(const std::string& key) { ++served_[key]; }

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, nlohmann::json> objects_;  // item path -> object
  std::deque<Event> history_;
  uint64_t rv_ = 100;
  uint64_t compacted_rv_ = 0;      // history holds every event after this version
  uint64_t watch_generation_ = 0;  // bumped to end open watches
  uint64_t uid_ = 0;
  bool stopping_ = false;
  std::set<std::string> tokens_;
  std::vector<Fault> faults_;
  std::map<std::string, uint64_t> served_;
  std::map<std::string, uint64_t> token_uses_;
};

}  // namespace chorus::testkit
