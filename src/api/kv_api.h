// KvApi: the HTTP JSON API of DESIGN.md §8, routing requests to a KvService.
//
// handle() parses and validates a request (key, r/w/sync query, PUT body), calls the service, and
// maps its outcome to a JSON response: {"key", "value" | "value_base64", "timestamp", "node"} for
// reads, {"key", "timestamp", "node", "acks"} for writes, and {"error": code, "message": ...} for
// every refusal (400 bad input, 404, 405, 413, 429, 501, 503 with reply counts, 504, 500). Routes:
//   PUT/GET/DELETE /v1/kv/{key}       GET /v1/cluster      GET /v1/health   GET /v1/ready
//   GET /metrics                      GET /v1/debug/owners/{key}   GET /v1/debug/local/{key}
//   POST /v1/cluster/join, POST /v1/cluster/nodes/{id}/decommission|remove (202 when accepted)
//   POST /v1/admin/repair (202: a full anti-entropy sweep is queued)   GET /v1/admin/repair
//   GET /v1/kv -> 501 for now.
// {key} is everything after the route prefix, percent-decoded: "a%2Fb" and a raw "a/b" both name
// the key "a/b" (see parse_key in request_parsing.h).
//
// Access control (DESIGN.md §10): with options.acl set, every route but /v1/health and /v1/ready
// needs "Authorization: Bearer <token>" naming a token of the current policy, else 401
// "unauthenticated" (with WWW-Authenticate: Bearer). Key routes need read (GET) or write (PUT,
// DELETE) on a prefix of the decoded key, and listing read on the listed prefix; /metrics needs
// `metrics`; every other route (cluster, join, decommission, remove, repair, debug) needs `admin`.
// A token without the right gets 403 "forbidden" naming the token and the permission (never the
// secret). Refusals are counted in chorus_security_refusals_total{reason="http_unauthenticated"|
// "http_forbidden"}. Without an ACL every route is open (loopback development clusters).
//
// Metrics: chorus_http_requests_total{op,code} and chorus_http_request_seconds{op} (handle() to
// respond()), op one of get, put, delete, other.
//
// Thread-safety: handle() may be called concurrently from any thread; it never blocks and never
// throws. Ownership: borrows the service, metrics registry and clock, which must outlive every
// request in flight (the service's completion callbacks call back into KvApi).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>

#include "api/http_server.h"
#include "api/kv_service.h"
#include "api/request_parsing.h"
#include "core/clock.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "security/acl.h"

namespace chorus {

struct KvApiOptions {
  size_t value_bytes_max = kValueBytesMaxDefault;
  int replicas = 3;  // N: the upper bound for numeric ?r= / ?w=
  // Null: no access control. Borrowed; must outlive the KvApi.
  const security::AclFile* acl = nullptr;
};

class KvApi {
 public:
  // `metrics` may be null (no metrics; /metrics answers an empty body). `clock` decides whether a
  // record has expired; null means a SystemClock owned by the KvApi.
  KvApi(KvService* service, KvApiOptions options, MetricsRegistry* metrics,
        const Clock* clock = nullptr);
  ~KvApi();
  KvApi(const KvApi&) = delete;
  KvApi& operator=(const KvApi&) = delete;

  // Usable directly as an HttpHandler. `respond` is called exactly once, possibly on the thread
  // that completes the service call.
  void handle(HttpRequest request, HttpRespond respond);

  enum class Op { kGet, kPut, kDelete, kOther };
  static constexpr size_t kOpCount = 4;

 private:
  struct OpMetrics;
  using Respond = std::function<void(HttpResponse)>;

  void route(HttpRequest request, Respond respond);
  // The 401/403 for a request whose token does not grant `need` (on `key` for read/write), or
  // nullopt when it does.
  std::optional<HttpResponse> refuse_unauthorized(const HttpRequest& request,
                                                  security::Permission need, std::string_view key);
  void kv_get(const HttpRequest& request, std::string_view tail, Respond respond);
  void kv_put(HttpRequest request, std::string_view tail, Respond respond);
  void kv_delete(const HttpRequest& request, std::string_view tail, Respond respond);
  std::optional<ApiError> parse_write_target(const HttpRequest& request, std::string_view tail,
                                             WriteArgs* args) const;
  void submit_write(WriteArgs args, Respond respond);
  void node_action(MembershipChange::Kind kind, std::string_view id, Respond respond);
  void join(const HttpRequest& request, Respond respond);
  void debug_owners(std::string_view tail, Respond respond);
  void debug_local(std::string_view tail, Respond respond);
  void record_metrics(Op op, int status, uint64_t elapsed_us);

  KvService* const service_;
  const KvApiOptions options_;
  MetricsRegistry* const metrics_;
  std::unique_ptr<Clock> owned_clock_;
  const Clock* const clock_;
  std::array<std::unique_ptr<OpMetrics>, kOpCount> op_metrics_;
  Counter* unauthenticated_ = nullptr;
  Counter* forbidden_ = nullptr;
};

}  // namespace chorus
