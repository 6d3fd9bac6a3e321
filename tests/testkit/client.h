// KvClient: a small blocking HTTP client for one chorusd node's JSON API (DESIGN §8), for tests;
// and poll_until(), the one way tests wait for a condition.
//
// Each call returns a reply struct and never throws. http_status is the HTTP status, or 0 when no
// response arrived (connection refused, reset, timeout); `error` then holds cpp-httplib's reason.
// A 2xx/4xx/5xx body that is not the expected JSON leaves the parsed fields at their defaults and
// sets `error`; `body` always holds the raw body.
//
// Connections use TCP_NODELAY and keep-alive (cpp-httplib reconnects transparently when the server
// closed the connection). Keys are percent-encoded as one path segment. Values that are not valid
// UTF-8 are sent as "value_base64"; a GET answering "value_base64" is decoded.
//
// Thread-safety: a KvClient is NOT thread-safe; use one per thread (they are cheap). poll_until()
// is reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/text.h"  // percent_encode for paths built by tests

#include "tests/testkit/history.h"

namespace httplib {
class Client;
}

namespace chorus::testkit {

struct ClientOptions {
  int connect_timeout_ms = 1000;
  // Longer than the node's request deadline, so a 504 from the node arrives before we give up.
  int read_timeout_ms = 10000;
  int write_timeout_ms = 5000;
  bool keep_alive = true;
  // Sent as "Authorization: Bearer <token>" when not empty.
  std::string token;
  // Not empty: speak HTTPS and verify the node's certificate against this PEM CA file.
  std::string cacert;
  // Not empty (with cacert): still connect to the host given, but verify the certificate for this
  // DNS name, as a client that resolved the name to that address does.
  std::string tls_name;
};

// The ?w= / ?r= parameter: a number (2), or "one", "quorum", "all". Default: omitted.
class Quorum {
 public:
  Quorum() = default;
  Quorum(int replicas) : text_(std::to_string(replicas)) {}  // NOLINT: implicit by design
  Quorum(const char* name) : text_(name) {}                  // NOLINT: implicit by design
  Quorum(std::string name) : text_(std::move(name)) {}       // NOLINT: implicit by design
  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Reply to PUT or DELETE.
struct WriteReply {
  int http_status = 0;     // 0: no response (see error)
  uint64_t timestamp = 0;  // HLC timestamp of the acknowledged version (2xx)
  int acks = -1;           // replicas that acknowledged (2xx and 503), -1 if absent
  int required = -1;       // W the request needed (503), -1 if absent
  std::string node;        // coordinator id (2xx)
  std::string error;       // JSON "error" code, or the transport error when http_status == 0
  std::string body;

  bool ok() const { return http_status >= 200 && http_status < 300; }
};

// Reply to GET /v1/kv/{key}.
struct ReadReply {
  int http_status = 0;
  std::optional<std::string> value;  // set on 2xx
  uint64_t timestamp = 0;
  std::string node;
  std::string error;
  std::string body;

  bool ok() const { return http_status >= 200 && http_status < 300; }
  bool not_found() const { return http_status == 404; }
};

struct JsonReply {
  int http_status = 0;
  nlohmann::json json;  // null if the body was empty or not JSON
  std::string error;
  std::string body;
};

class KvClient {
 public:
  // host is an IPv4 literal such as "127.101.7.1".
  KvClient(std::string host, int port, ClientOptions options = {});
  // host_port is "127.101.7.1:8080".
  static KvClient from_address(const std::string& host_port, ClientOptions options = {});
  ~KvClient();
  KvClient(KvClient&&) noexcept;
  KvClient& operator=(KvClient&&) noexcept;

  WriteReply put(const std::string& key, const std::string& value, const Quorum& w = {});
  ReadReply get(const std::string& key, const Quorum& r = {});
  WriteReply del(const std::string& key, const Quorum& w = {});
  // GET of any path ("/v1/cluster", "/v1/debug/local/k"); the body parsed as JSON.
  JsonReply get_json(const std::string& path);
  // GET of any path; status and raw body only (e.g. /metrics).
  JsonReply get_raw(const std::string& path);
  // POST of a JSON body (may be empty) to any path; the reply parsed as JSON.
  JsonReply post_json(const std::string& path, const std::string& body);

  const std::string& host() const { return host_; }
  int port() const { return port_; }

 private:
  std::string host_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> http_;
};

// How a reply enters a History: 2xx -> ok(timestamp); 4xx -> failed (definitely not applied);
// 5xx or no answer -> indeterminate (may have been applied).
WriteOutcome to_write_outcome(const WriteReply& reply);
// 2xx with a value -> ok(value, timestamp); 404 -> not_found; anything else -> failed.
ReadOutcome to_read_outcome(const ReadReply& reply);

// Calls predicate until it returns true (-> true) or timeout_ms passed (-> false). The predicate
// runs at least once, and once more at the deadline. interval_ms is the polling interval, not a
// synchronization sleep.
bool poll_until(int timeout_ms, const std::function<bool()>& predicate, int interval_ms = 50);

}  // namespace chorus::testkit
