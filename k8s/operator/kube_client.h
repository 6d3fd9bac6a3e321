// KubeClient: the small part of the Kubernetes REST API the operator uses, over cpp-httplib
// (HTTPS with the configured CA, or plain HTTP for `kubectl proxy` and the tests' fake server).
//
// Requests return the HTTP status and the parsed JSON body; the caller decides what a 404, 409 or
// 410 means (they are answers, not errors). A non-OK Result means no answer: connection refused,
// timeout, a body that is not JSON, or a response over kResponseBytesMax.
//
// Credentials: a fixed token, or `token_file` re-read every kTokenRereadMs and at once after a
// 401, so a rotated service account token is picked up without a restart.
//
// watch() streams a watch (`?watch=1`): each newline-delimited event is parsed and handed to
// `on_event`; it returns when the server ends the stream (its timeoutSeconds), on a transport
// error, or when on_event returns false.
//
// Thread-safety: one KubeClient per thread (cpp-httplib's client is not safe for concurrent
// requests); make one for each of the watch, lease and reconcile loops.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "k8s/operator/kube_config.h"

namespace httplib {
class Client;
}

namespace chorus::op {

inline constexpr uint64_t kTokenRereadMs = 60'000;
// A list of every pod of a large cluster stays well under this.
inline constexpr size_t kResponseBytesMax = 16u << 20;
// One watch event (one object) larger than this ends the watch as malformed.
inline constexpr size_t kWatchEventBytesMax = 4u << 20;

struct KubeClientOptions {
  int connect_timeout_ms = 5'000;
  int request_timeout_ms = 10'000;
};

struct ApiResponse {
  int http_status = 0;
  nlohmann::json body;  // null for an empty body

  bool ok() const { return http_status >= 200 && http_status < 300; }
  // The API's own explanation of a failure (a Status object's message), or the HTTP status.
  std::string message() const;
};

class KubeClient {
 public:
  KubeClient(KubeConfig config, KubeClientOptions options, const Clock* clock);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  [[nodiscard]] Result<ApiResponse> get(const std::string& path);
  [[nodiscard]] Result<ApiResponse> create(const std::string& collection_path,
                                           const nlohmann::json& object);
  // PUT: the object's metadata.resourceVersion makes it a compare-and-swap (409 when stale).
  [[nodiscard]] Result<ApiResponse> replace(const std::string& path, const nlohmann::json& object);
  // PATCH with application/merge-patch+json (RFC 7386).
  [[nodiscard]] Result<ApiResponse> merge_patch(const std::string& path,
                                                const nlohmann::json& patch);
  [[nodiscard]] Result<ApiResponse> remove(const std::string& path);

  // `path` includes the query (watch=1&resourceVersion=...&timeoutSeconds=...). `timeout_s` is
  // the server-side timeout asked for; the read timeout allows a little more.
  [[nodiscard]] Status watch(const std::string& path, int timeout_s,
                             const std::function<bool(const nlohmann::json& event)>& on_event);

  const KubeConfig& config() const { return config_; }

 private:
  Result<ApiResponse> request(const std::string& method, const std::string& path,
                              const nlohmann::json* body, const char* content_type);
  void refresh_token(bool force);
  std::unique_ptr<httplib::Client> make_client(int read_timeout_ms) const;

  const KubeConfig config_;
  const KubeClientOptions options_;
  const Clock* clock_;
  std::unique_ptr<httplib::Client> client_;
  std::string token_;
  uint64_t token_read_ms_ = 0;
  bool token_loaded_ = false;
};

}  // namespace chorus::op
