#include "tests/testkit/client.h"

#include "core/text.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace chorus::testkit {
namespace {

// Values that are not valid UTF-8 cannot be a JSON string: send them as value_base64.
std::string put_body(const std::string& value) {
  if (is_valid_utf8(value)) return nlohmann::json{{"value", value}}.dump();
  return nlohmann::json{{"value_base64", base64_encode(value)}}.dump();
}

std::string with_quorum(std::string path, const char* name, const Quorum& quorum) {
  if (!quorum.empty()) path += std::string("?") + name + "=" + percent_encode(quorum.text());
  return path;
}

// Parses a JSON object body; on failure sets *error and returns null.
nlohmann::json parse_object(const std::string& body, std::string* error) {
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    *error = "body is not a JSON object";
    return nullptr;
  }
  return json;
}

template <typename T>
T field_or(const nlohmann::json& json, const char* name, T fallback) {
  auto it = json.find(name);
  if (it == json.end()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

WriteReply to_write_reply(const httplib::Result& result) {
  WriteReply reply;
  if (!result) {
    reply.error = httplib::to_string(result.error());
    return reply;
  }
  reply.http_status = result->status;
  reply.body = result->body;
  nlohmann::json json = parse_object(reply.body, &reply.error);
  if (json.is_null()) return reply;
  reply.timestamp = field_or<uint64_t>(json, "timestamp", 0);
  reply.acks = field_or<int>(json, "acks", -1);
  reply.required = field_or<int>(json, "required", -1);
  reply.node = field_or<std::string>(json, "node", "");
  reply.error = field_or<std::string>(json, "error", "");
  return reply;
}

ReadReply to_read_reply(const httplib::Result& result) {
  ReadReply reply;
  if (!result) {
    reply.error = httplib::to_string(result.error());
    return reply;
  }
  reply.http_status = result->status;
  reply.body = result->body;
  nlohmann::json json = parse_object(reply.body, &reply.error);
  if (json.is_null()) return reply;
  reply.timestamp = field_or<uint64_t>(json, "timestamp", 0);
  reply.node = field_or<std::string>(json, "node", "");
  reply.error = field_or<std::string>(json, "error", "");
  if (!reply.ok()) return reply;
  if (json.contains("value")) {
    reply.value = field_or<std::string>(json, "value", "");
  } else if (json.contains("value_base64")) {
    Result<std::string> decoded = base64_decode(field_or<std::string>(json, "value_base64", ""));
    if (decoded.ok()) {
      reply.value = std::move(decoded).value();
    } else {
      reply.error = "bad value_base64";
    }
  } else {
    reply.error = "2xx without value";
  }
  return reply;
}

JsonReply to_json_reply(const httplib::Result& result, bool parse) {
  JsonReply reply;
  if (!result) {
    reply.error = httplib::to_string(result.error());
    return reply;
  }
  reply.http_status = result->status;
  reply.body = result->body;
  if (parse) {
    reply.json = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
    if (reply.json.is_discarded()) {
      reply.json = nullptr;
      reply.error = "body is not JSON";
    }
  }
  return reply;
}

void set_timeout(int timeout_ms, const std::function<void(time_t, time_t)>& setter) {
  setter(timeout_ms / 1000, (timeout_ms % 1000) * 1000);
}

}  // namespace

KvClient::KvClient(std::string host, int port, ClientOptions options)
    : host_(std::move(host)),
      port_(port),
      http_(std::make_unique<httplib::Client>(
          (options.cacert.empty() ? "http://" : "https://") +
          (options.tls_name.empty() || options.cacert.empty() ? host_ : options.tls_name) + ":" +
          std::to_string(port))) {
  if (!options.cacert.empty()) http_->set_ca_cert_path(options.cacert.c_str());
  if (!options.cacert.empty() && !options.tls_name.empty()) {
    http_->set_hostname_addr_map({{options.tls_name, host_}});
  }
  http_->set_tcp_nodelay(true);
  http_->set_keep_alive(options.keep_alive);
  if (!options.token.empty()) http_->set_bearer_token_auth(options.token.c_str());
  set_timeout(options.connect_timeout_ms,
              [this](time_t s, time_t us) { http_->set_connection_timeout(s, us); });
  set_timeout(options.read_timeout_ms,
              [this](time_t s, time_t us) { http_->set_read_timeout(s, us); });
  set_timeout(options.write_timeout_ms,
              [this](time_t s, time_t us) { http_->set_write_timeout(s, us); });
}

KvClient KvClient::from_address(const std::string& host_port, ClientOptions options) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return KvClient(host_port, 80, options);
  return KvClient(host_port.substr(0, colon), std::atoi(host_port.c_str() + colon + 1), options);
}

KvClient::~KvClient() = default;
KvClient::KvClient(KvClient&&) noexcept = default;
KvClient& KvClient::operator=(KvClient&&) noexcept = default;

WriteReply KvClient::put(const std::string& key, const std::string& value, const Quorum& w) {
  std::string path = with_quorum("/v1/kv/" + percent_encode(key), "w", w);
  return to_write_reply(http_->Put(path.c_str(), put_body(value), "application/json"));
}

ReadReply KvClient::get(const std::string& key, const Quorum& r) {
  std::string path = with_quorum("/v1/kv/" + percent_encode(key), "r", r);
  return to_read_reply(http_->Get(path.c_str()));
}

WriteReply KvClient::del(const std::string& key, const Quorum& w) {
  std::string path = with_quorum("/v1/kv/" + percent_encode(key), "w", w);
  return to_write_reply(http_->Delete(path.c_str()));
}

JsonReply KvClient::get_json(const std::string& path) {
  return to_json_reply(http_->Get(path.c_str()), /*parse=*/true);
}

JsonReply KvClient::get_raw(const std::string& path) {
  return to_json_reply(http_->Get(path.c_str()), /*parse=*/false);
}

JsonReply KvClient::post_json(const std::string& path, const std::string& body) {
  return to_json_reply(http_->Post(path.c_str(), body, "application/json"), /*parse=*/true);
}

WriteOutcome to_write_outcome(const WriteReply& reply) {
  if (reply.ok()) return WriteOutcome::ok(reply.timestamp, reply.node);
  if (reply.http_status >= 400 && reply.http_status < 500) return WriteOutcome::failed();
  return WriteOutcome::indeterminate();
}

ReadOutcome to_read_outcome(const ReadReply& reply) {
  if (reply.ok() && reply.value) return ReadOutcome::ok(*reply.value, reply.timestamp);
  if (reply.not_found()) return ReadOutcome::not_found();
  return ReadOutcome::failed();
}

bool poll_until(int timeout_ms, const std::function<bool()>& predicate, int interval_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (predicate()) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    auto pause = std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(interval_ms), deadline - now);
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace chorus::testkit
