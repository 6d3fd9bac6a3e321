#include "api/kv_api.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <optional>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "api/request_parsing.h"
#include "core/limits.h"
#include "core/text.h"

namespace chorus {
namespace {

using nlohmann::json;

// The status codes this API answers with. Their counters are cached after first use so counting a
// request does not take the registry's lock; any other code is looked up every time.
constexpr std::array<int, 12> kKnownStatuses = {200, 202, 400, 404, 405, 413,
                                                429, 500, 501, 503, 504, 431};
constexpr std::array<const char*, KvApi::kOpCount> kOpNames = {"get", "put", "delete", "other"};
constexpr const char* kRequestsName = "chorus_http_requests_total";
constexpr const char* kRequestsHelp = "HTTP API requests by operation and status code.";
constexpr const char* kSecondsName = "chorus_http_request_seconds";
constexpr const char* kSecondsHelp = "HTTP API request latency, from routing to response.";
constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4";

enum class RouteId {
  kKvGet,
  kKvPut,
  kKvDelete,
  kKvList,
  kCluster,
  kJoin,
  kDecommission,
  kRemove,
  kHealth,
  kReady,
  kMetrics,
  kOwners,
  kLocal,
  kRepair,
  kRepairStatus,
};
enum class Match { kExact, kPrefix, kDecommission, kRemove };

struct Route {
  std::string_view method;
  Match match;
  std::string_view pattern;
  RouteId id;
};

constexpr std::string_view kKvPrefix = "/v1/kv/";
constexpr std::string_view kNodesPrefix = "/v1/cluster/nodes/";
constexpr std::string_view kDecommissionSuffix = "/decommission";
constexpr std::string_view kRemoveSuffix = "/remove";

constexpr std::array<Route, 15> kRoutes = {{
    {"GET", Match::kPrefix, kKvPrefix, RouteId::kKvGet},
    {"PUT", Match::kPrefix, kKvPrefix, RouteId::kKvPut},
    {"DELETE", Match::kPrefix, kKvPrefix, RouteId::kKvDelete},
    {"GET", Match::kExact, "/v1/kv", RouteId::kKvList},
    {"GET", Match::kExact, "/v1/cluster", RouteId::kCluster},
    {"POST", Match::kExact, "/v1/cluster/join", RouteId::kJoin},
    {"POST", Match::kDecommission, kNodesPrefix, RouteId::kDecommission},
    {"POST", Match::kRemove, kNodesPrefix, RouteId::kRemove},
    {"GET", Match::kExact, "/v1/health", RouteId::kHealth},
    {"GET", Match::kExact, "/v1/ready", RouteId::kReady},
    {"GET", Match::kExact, "/metrics", RouteId::kMetrics},
    {"GET", Match::kPrefix, "/v1/debug/owners/", RouteId::kOwners},
    {"GET", Match::kPrefix, "/v1/debug/local/", RouteId::kLocal},
    {"POST", Match::kExact, "/v1/admin/repair", RouteId::kRepair},
    {"GET", Match::kExact, "/v1/admin/repair", RouteId::kRepairStatus},
}};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// True when `path` matches; *tail is what follows a prefix pattern (the raw key segment).
bool matches(const Route& route, std::string_view path, std::string_view* tail) {
  switch (route.match) {
    case Match::kExact:
      return path == route.pattern;
    case Match::kPrefix:
      if (!starts_with(path, route.pattern)) return false;
      *tail = path.substr(route.pattern.size());
      return true;
    case Match::kDecommission:
    case Match::kRemove: {
      const std::string_view suffix =
          route.match == Match::kDecommission ? kDecommissionSuffix : kRemoveSuffix;
      if (!starts_with(path, route.pattern) ||
          path.size() <= route.pattern.size() + suffix.size() ||
          path.substr(path.size() - suffix.size()) != suffix) {
        return false;
      }
      *tail = path.substr(route.pattern.size(), path.size() - route.pattern.size() - suffix.size());
      return true;
    }
  }
  return false;
}

// Never throws: invalid UTF-8 (which validation keeps out of keys and values) would be replaced.
HttpResponse json_response(int status, const json& body) {
  return HttpResponse{
      status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  return json_response(status, json{{"error", code}, {"message", message}});
}

HttpResponse error_response(const ApiError& error) {
  return error_response(error.http_status, error.code, error.message);
}

HttpResponse not_implemented(const std::string& what) {
  return error_response(501, "not_implemented", what + " is not implemented yet");
}

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > kNodeIdBytesMax) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// The answer to a membership change: 202 once the leader took it (it applies when committed).
HttpResponse membership_response(const Status& st, const MembershipChange& change) {
  static constexpr const char* kActions[] = {"join", "decommission", "remove"};
  const char* action = kActions[static_cast<int>(change.kind)];
  if (st.ok()) {
    return json_response(202, json{{"accepted", true}, {"action", action}, {"id", change.id}});
  }
  switch (st.code()) {
    case Status::Code::kNotFound:
      return error_response(404, "not_found", st.message());
    case Status::Code::kInvalidArgument:
      return error_response(400, "invalid_request", st.message());
    case Status::Code::kBusy:
      return error_response(
          429, "busy", st.message() + " (another membership change is being committed; retry)");
    case Status::Code::kTimeout:
      return error_response(504, "timeout", st.message());
    default:
      return error_response(503, "unavailable", st.message());
  }
}

// Maps a non-OK service Status to its HTTP answer. `count_name` is "acks" for writes and "replies"
// for reads; 503 and 504 report how many replicas answered out of how many were required.
HttpResponse status_response(const Status& status, const char* count_name, int count,
                             int required) {
  switch (status.code()) {
    case Status::Code::kInvalidArgument:
      return error_response(400, "invalid_argument", status.message());
    case Status::Code::kNotFound:
      return error_response(404, "not_found", status.message());
    case Status::Code::kTooLarge:
      return error_response(413, "too_large", status.message());
    case Status::Code::kBusy:
      return error_response(429, "overloaded", status.message());
    case Status::Code::kUnavailable:
    case Status::Code::kTimeout: {
      const bool unavailable = status.code() == Status::Code::kUnavailable;
      return json_response(unavailable ? 503 : 504,
                           json{{"error", unavailable ? "unavailable" : "timeout"},
                                {"message", status.message()},
                                {count_name, count},
                                {"required", required}});
    }
    case Status::Code::kPermissionDenied:  // a peer refused this node's identity: a cluster fault
    case Status::Code::kOk:                // a caller bug: OK outcomes never get here
    case Status::Code::kCorruption:
    case Status::Code::kIOError:
      break;
  }
  return error_response(500, "internal", status.to_string());
}

// Binary-safe value field: a JSON string when the bytes are UTF-8, base64 otherwise.
void put_value(const std::string& value, json* body) {
  if (is_valid_utf8(value)) {
    (*body)["value"] = value;
  } else {
    (*body)["value_base64"] = base64_encode(value);
  }
}

HttpResponse read_response(const std::string& key, const ReadOutcome& outcome, uint64_t now_ms) {
  if (outcome.status.is_not_found() || (outcome.status.ok() && outcome.record.absent_at(now_ms))) {
    return error_response(404, "not_found", "no value for this key");
  }
  if (!outcome.status.ok()) {
    return status_response(outcome.status, "replies", outcome.replies, outcome.required);
  }
  json body{{"key", key}};
  put_value(outcome.record.value, &body);
  body["timestamp"] = outcome.record.ts.packed;
  body["node"] = outcome.record.origin;
  return json_response(200, body);
}

HttpResponse write_response(const std::string& key, const WriteOutcome& outcome) {
  if (!outcome.status.ok()) {
    return status_response(outcome.status, "acks", outcome.acks, outcome.required);
  }
  return json_response(200, json{{"key", key},
                                 {"timestamp", outcome.ts.packed},
                                 {"node", outcome.node},
                                 {"acks", outcome.acks}});
}

// The first value of query parameter `name`, if present.
std::optional<std::string_view> query_param(
    const std::vector<std::pair<std::string, std::string>>& query, std::string_view name) {
  for (const auto& item : query) {
    if (item.first == name) return std::string_view(item.second);
  }
  return std::nullopt;
}

KvApi::Op op_of(const HttpRequest& request) {
  if (!starts_with(request.path, kKvPrefix)) return KvApi::Op::kOther;
  if (request.method == "GET") return KvApi::Op::kGet;
  if (request.method == "PUT") return KvApi::Op::kPut;
  if (request.method == "DELETE") return KvApi::Op::kDelete;
  return KvApi::Op::kOther;
}

}  // namespace

struct KvApi::OpMetrics {
  Histogram* seconds = nullptr;
  // Registered lazily (registration is idempotent, so racing threads store the same pointer):
  // /metrics then shows only the codes that actually occurred.
  std::array<std::atomic<Counter*>, kKnownStatuses.size()> requests{};
};

KvApi::KvApi(KvService* service, KvApiOptions options, MetricsRegistry* metrics, const Clock* clock)
    : service_(service),
      options_(options),
      metrics_(metrics),
      owned_clock_(clock == nullptr ? std::make_unique<SystemClock>() : nullptr),
      clock_(clock == nullptr ? owned_clock_.get() : clock) {
  if (metrics_ == nullptr) return;
  unauthenticated_ = security_refusal_counter(metrics_, "http_unauthenticated");
  forbidden_ = security_refusal_counter(metrics_, "http_forbidden");
  for (size_t op = 0; op < kOpCount; ++op) {
    auto op_metrics = std::make_unique<OpMetrics>();
    const std::string op_label = std::string("op=\"") + kOpNames[op] + "\"";
    op_metrics->seconds = metrics_->histogram(kSecondsName, kSecondsHelp, op_label);
    op_metrics_[op] = std::move(op_metrics);
  }
}

KvApi::~KvApi() = default;

void KvApi::handle(HttpRequest request, HttpRespond respond) {
  // Latency uses std::chrono directly: the Clock interface has millisecond resolution, too coarse
  // for the microsecond buckets, and no behaviour depends on this value.
  const auto start = std::chrono::steady_clock::now();
  const Op op = op_of(request);
  Respond finish = [this, op, start, respond = std::move(respond)](HttpResponse response) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    record_metrics(op, response.status,
                   std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
    respond(std::move(response));
  };
  route(std::move(request), std::move(finish));
}

void KvApi::route(HttpRequest request, Respond respond) {
  const Route* found = nullptr;
  std::string_view tail;
  std::string allow;
  for (const Route& candidate : kRoutes) {
    std::string_view candidate_tail;
    if (!matches(candidate, request.path, &candidate_tail)) continue;
    if (candidate.method == request.method) {
      found = &candidate;
      tail = candidate_tail;
      break;
    }
    allow += (allow.empty() ? "" : ", ") + std::string(candidate.method);
  }
  if (found == nullptr) {
    if (allow.empty()) return respond(error_response(404, "not_found", "no such route"));
    HttpResponse response = error_response(405, "method_not_allowed",
                                           request.method + " is not allowed here; use " + allow);
    response.headers.emplace_back("Allow", allow);
    return respond(std::move(response));
  }
  if (options_.acl != nullptr && found->id != RouteId::kHealth && found->id != RouteId::kReady) {
    security::Permission need = security::Permission::kAdmin;
    std::string key;
    switch (found->id) {
      case RouteId::kKvGet:
      case RouteId::kKvPut:
      case RouteId::kKvDelete:
        need = found->id == RouteId::kKvGet ? security::Permission::kRead
                                            : security::Permission::kWrite;
        // A key that does not decode is refused by its handler (400) once the token is known.
        if (parse_key(tail, &key).has_value()) key.clear();
        break;
      case RouteId::kKvList:
        need = security::Permission::kRead;
        {
          const auto query = parse_query(request.query);
          key = std::string(query_param(query, "prefix").value_or(""));
        }
        break;
      case RouteId::kMetrics:
        need = security::Permission::kMetrics;
        break;
      default:
        break;
    }
    if (auto refusal = refuse_unauthorized(request, need, key)) return respond(std::move(*refusal));
  }
  switch (found->id) {
    case RouteId::kKvGet:
      return kv_get(request, tail, std::move(respond));
    case RouteId::kKvPut: {
      const std::string raw_key(tail);  // tail points into request, which kv_put consumes
      return kv_put(std::move(request), raw_key, std::move(respond));
    }
    case RouteId::kKvDelete:
      return kv_delete(request, tail, std::move(respond));
    case RouteId::kKvList:
      return respond(not_implemented("key listing"));
    case RouteId::kJoin:
      return join(request, std::move(respond));
    case RouteId::kDecommission:
      return node_action(MembershipChange::Kind::kDecommission, tail, std::move(respond));
    case RouteId::kRemove:
      return node_action(MembershipChange::Kind::kRemove, tail, std::move(respond));
    case RouteId::kCluster:
      return respond(json_response(200, service_->cluster_status()));
    case RouteId::kHealth:
      return respond(json_response(200, json{{"status", "ok"}}));
    case RouteId::kReady:
      return respond(service_->ready() ? json_response(200, json{{"ready", true}})
                                       : error_response(503, "not_ready",
                                                        "this node cannot coordinate requests yet "
                                                        "(ring not formed, or not caught up with "
                                                        "the metadata leader)"));
    case RouteId::kMetrics:
      return respond(HttpResponse{200,
                                  kPrometheusContentType,
                                  metrics_ != nullptr ? metrics_->render() : std::string(),
                                  {}});
    case RouteId::kOwners:
      return debug_owners(tail, std::move(respond));
    case RouteId::kLocal:
      return debug_local(tail, std::move(respond));
    case RouteId::kRepair: {
      const Status st = service_->repair_now();
      if (!st.ok()) return respond(error_response(503, "unavailable", st.message()));
      return respond(
          json_response(202, json{{"repair", "queued"},
                                  {"message",
                                   "a full anti-entropy sweep of every partition this node "
                                   "replicates is queued; GET /v1/admin/repair shows progress"}}));
    }
    case RouteId::kRepairStatus:
      return respond(json_response(200, service_->repair_status()));
  }
}

namespace {
void bump(Counter* counter) {
  if (counter != nullptr) counter->inc();
}
}  // namespace

std::optional<HttpResponse> KvApi::refuse_unauthorized(const HttpRequest& request,
                                                       security::Permission need,
                                                       std::string_view key) {
  const std::shared_ptr<const security::AclPolicy> policy = options_.acl->current();
  const security::AclToken* token =
      policy->authenticate(security::bearer_token(request.authorization));
  if (token == nullptr) {
    bump(unauthenticated_);
    HttpResponse response =
        error_response(401, "unauthenticated",
                       request.authorization.empty()
                           ? "this node requires a token: send Authorization: Bearer <token>"
                           : "the token is not known to this node's ACL");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
  }
  if (security::AclPolicy::allows(*token, need, key)) return std::nullopt;
  bump(forbidden_);
  const bool keyed = need == security::Permission::kRead || need == security::Permission::kWrite;
  spdlog::debug("api: token \"{}\" refused {} {}", token->name, request.method, request.path);
  return error_response(403, "forbidden",
                        "token \"" + token->name + "\" lacks the " +
                            security::permission_name(need) + " permission" +
                            (keyed ? " on this key" : ""));
}

void KvApi::kv_get(const HttpRequest& request, std::string_view tail, Respond respond) {
  ReadArgs args;
  if (auto error = parse_key(tail, &args.key)) return respond(error_response(*error));
  const auto query = parse_query(request.query);
  if (auto error = parse_consistency(query_param(query, "r"), "r", options_.replicas, &args.r)) {
    return respond(error_response(*error));
  }
  std::string key = args.key;
  service_->read(std::move(args),
                 [this, key = std::move(key), respond = std::move(respond)](ReadOutcome outcome) {
                   respond(read_response(key, outcome, clock_->wall_ms()));
                 });
}

// The key, ?w= and ?sync=: what PUT and DELETE share.
std::optional<ApiError> KvApi::parse_write_target(const HttpRequest& request, std::string_view tail,
                                                  WriteArgs* args) const {
  if (auto error = parse_key(tail, &args->key)) return error;
  const auto query = parse_query(request.query);
  if (auto error = parse_consistency(query_param(query, "w"), "w", options_.replicas, &args->w)) {
    return error;
  }
  return parse_sync(query_param(query, "sync"), &args->sync);
}

void KvApi::submit_write(WriteArgs args, Respond respond) {
  std::string key = args.key;
  service_->write(std::move(args),
                  [key = std::move(key), respond = std::move(respond)](WriteOutcome outcome) {
                    respond(write_response(key, outcome));
                  });
}

void KvApi::kv_put(HttpRequest request, std::string_view tail, Respond respond) {
  WriteArgs args;
  if (auto error = parse_write_target(request, tail, &args)) {
    return respond(error_response(*error));
  }
  PutBody body;
  if (auto error = parse_put_body(request.content_type, std::move(request.body),
                                  options_.value_bytes_max, &body)) {
    return respond(error_response(*error));
  }
  args.value = std::move(body.value);
  args.ttl_s = body.ttl_s;
  submit_write(std::move(args), std::move(respond));
}

void KvApi::kv_delete(const HttpRequest& request, std::string_view tail, Respond respond) {
  WriteArgs args;
  if (auto error = parse_write_target(request, tail, &args)) {
    return respond(error_response(*error));
  }
  args.tombstone = true;
  submit_write(std::move(args), std::move(respond));
}

void KvApi::node_action(MembershipChange::Kind kind, std::string_view id, Respond respond) {
  if (!valid_node_id(id)) {
    return respond(error_response(
        400, "invalid_id",
        "a node id is 1.." + std::to_string(kNodeIdBytesMax) + " characters of [A-Za-z0-9._-]"));
  }
  MembershipChange change;
  change.kind = kind;
  change.id = std::string(id);
  service_->change_membership(change, [change, respond = std::move(respond)](Status st) {
    respond(membership_response(st, change));
  });
}

void KvApi::join(const HttpRequest& request, Respond respond) {
  const json body = json::parse(request.body, nullptr, false);
  MembershipChange change;
  change.kind = MembershipChange::Kind::kJoin;
  const bool shaped = body.is_object() && body.contains("id") && body["id"].is_string() &&
                      body.contains("peer") && body["peer"].is_string() && body.contains("http") &&
                      body["http"].is_string();
  if (shaped) {
    change.id = body["id"].get<std::string>();
    change.peer = body["peer"].get<std::string>();
    change.http = body["http"].get<std::string>();
  }
  if (!shaped || !valid_node_id(change.id) || change.peer.empty() || change.http.empty() ||
      change.peer.size() > 256 || change.http.size() > 256) {
    return respond(error_response(
        400, "invalid_request",
        R"(expected {"id": "<node id>", "peer": "host:port", "http": "host:port"})"));
  }
  service_->change_membership(change, [change, respond = std::move(respond)](Status st) {
    respond(membership_response(st, change));
  });
}

void KvApi::debug_owners(std::string_view tail, Respond respond) {
  std::string key;
  if (auto error = parse_key(tail, &key)) return respond(error_response(*error));
  respond(json_response(200, service_->debug_owners(key)));
}

void KvApi::debug_local(std::string_view tail, Respond respond) {
  std::string key;
  if (auto error = parse_key(tail, &key)) return respond(error_response(*error));
  Result<Record> record = service_->debug_local(key);
  if (!record.ok()) {
    if (record.status().is_not_found()) {
      return respond(error_response(404, "not_found", "this node holds no replica of the key"));
    }
    return respond(status_response(record.status(), "replies", 0, 0));
  }
  json body{{"key", key}};
  put_value(record->value, &body);
  body["timestamp"] = record->ts.packed;
  body["node"] = record->origin;
  body["tombstone"] = record->tombstone;
  body["epoch"] = record->epoch;
  body["expiry_ms"] = record->expiry_ms;
  respond(json_response(200, body));
}

void KvApi::record_metrics(Op op, int status, uint64_t elapsed_us) {
  OpMetrics* metrics = op_metrics_[static_cast<size_t>(op)].get();
  if (metrics == nullptr) return;
  metrics->seconds->observe_us(elapsed_us);
  const auto register_counter = [&] {
    return metrics_->counter(kRequestsName, kRequestsHelp,
                             std::string("op=\"") + kOpNames[static_cast<size_t>(op)] +
                                 "\",code=\"" + std::to_string(status) + "\"");
  };
  for (size_t i = 0; i < kKnownStatuses.size(); ++i) {
    if (kKnownStatuses[i] != status) continue;
    Counter* counter = metrics->requests[i].load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = register_counter();
      metrics->requests[i].store(counter, std::memory_order_release);
    }
    counter->inc();
    return;
  }
  register_counter()->inc();
}

}  // namespace chorus
