// NodeClient: cpp-httplib calls with timeouts and no exceptions (see node_client.h).
#include "cli/node_client.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>

namespace chorus::cli {
namespace {

// cpp-httplib's error names ("Connection", "Read") say little to a user; say what happened.
std::string describe(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect (refused or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::Read:
      return "no response (timed out or connection closed)";
    case httplib::Error::Write:
      return "could not send the request (connection closed)";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed (is the node https, and the URL https://?)";
    case httplib::Error::SSLServerVerification:
      return "the node's certificate does not verify (give its CA with --cacert)";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the --cacert file";
    default:
      return "request failed (" + httplib::to_string(error) + ")";
  }
}

Reply to_reply(const httplib::Result& result) {
  Reply reply;
  if (!result) {
    reply.error = describe(result.error());
    return reply;
  }
  reply.status = result->status;
  reply.body = result->body;
  return reply;
}

}  // namespace

NodeClient::NodeClient(std::string base_url, int timeout_ms, const std::string& token,
                       const std::string& cacert)
    : base_url_(std::move(base_url)), client_(std::make_unique<httplib::Client>(base_url_)) {
  const auto ms = [](int value) { return std::chrono::milliseconds(value); };
  client_->set_tcp_nodelay(true);  // Nagle would add ~40 ms to every small request
  client_->set_connection_timeout(ms(std::min(kConnectTimeoutMs, timeout_ms)));
  client_->set_read_timeout(ms(timeout_ms));
  client_->set_write_timeout(ms(timeout_ms));
  // Paths arrive fully percent-encoded (format.h); httplib must not encode them again.
  client_->set_url_encode(false);
  if (!token.empty()) client_->set_bearer_token_auth(token.c_str());
  if (!cacert.empty()) client_->set_ca_cert_path(cacert.c_str());
}

NodeClient::~NodeClient() = default;

Reply NodeClient::get(const std::string& path) {
  return to_reply(client_->Get(path));
}

Reply NodeClient::put(const std::string& path, const std::string& body,
                      const std::string& content_type) {
  return to_reply(client_->Put(path, body, content_type));
}

Reply NodeClient::post(const std::string& path, const std::string& body) {
  return to_reply(client_->Post(path, body, "application/json"));
}

Reply NodeClient::del(const std::string& path) {
  return to_reply(client_->Delete(path));
}

}  // namespace chorus::cli
