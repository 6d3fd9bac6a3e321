// NodeClient: chorusctl's blocking HTTP client for one node's API (cpp-httplib), with TCP_NODELAY
// and bounded connect/read/write timeouts so a hung node cannot hang the CLI.
//
// Calls never throw. A Reply with status 0 means no response arrived (refused, reset, timed out);
// `error` then says why.
//
// Thread-safety: not thread-safe; the CLI makes one request at a time.
#pragma once

#include <memory>
#include <string>

namespace httplib {
class Client;
}

namespace chorus::cli {

// A node that does not accept a connection in this long is treated as down.
constexpr int kConnectTimeoutMs = 3000;

struct Reply {
  int status = 0;  // HTTP status; 0: no response (see error)
  std::string body;
  std::string error;
};

class NodeClient {
 public:
  // `base_url` is what normalize_node_url() returns ("http[s]://host:port"). A non-empty `token`
  // is sent as "Authorization: Bearer <token>" with every request. Over https the node's
  // certificate is verified against `cacert` (a PEM file), or the system's CAs when empty.
  NodeClient(std::string base_url, int timeout_ms, const std::string& token = {},
             const std::string& cacert = {});
  ~NodeClient();

  Reply get(const std::string& path);
  Reply put(const std::string& path, const std::string& body, const std::string& content_type);
  Reply del(const std::string& path);
  Reply post(const std::string& path, const std::string& body);

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace chorus::cli
