#include "k8s/operator/kube_client.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace chorus::op {

namespace {

constexpr int kWatchReadSlackMs = 10'000;

std::string describe(httplib::Error error) {
  return httplib::to_string(error);
}

}  // namespace

std::string ApiResponse::message() const {
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return "HTTP " + std::to_string(http_status) + ": " + body["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(http_status);
}

KubeClient::KubeClient(KubeConfig config, KubeClientOptions options, const Clock* clock)
    : config_(std::move(config)), options_(options), clock_(clock) {
  client_ = make_client(options_.request_timeout_ms);
}

KubeClient::~KubeClient() = default;

std::unique_ptr<httplib::Client> KubeClient::make_client(int read_timeout_ms) const {
  auto client = config_.client_cert_file.empty()
                    ? std::make_unique<httplib::Client>(config_.server)
                    : std::make_unique<httplib::Client>(config_.server, config_.client_cert_file,
                                                        config_.client_key_file);
  client->set_connection_timeout(std::chrono::milliseconds(options_.connect_timeout_ms));
  client->set_read_timeout(std::chrono::milliseconds(read_timeout_ms));
  client->set_write_timeout(std::chrono::milliseconds(options_.request_timeout_ms));
  client->set_keep_alive(true);
  if (config_.server.rfind("https://", 0) == 0) {
    if (!config_.ca_file.empty()) client->set_ca_cert_path(config_.ca_file);
    client->enable_server_certificate_verification(!config_.insecure_skip_tls_verify);
  }
  return client;
}

void KubeClient::refresh_token(bool force) {
  if (config_.token_file.empty()) {
    token_ = config_.token;
    return;
  }
  const uint64_t now_ms = clock_->steady_ms();
  if (!force && token_loaded_ && now_ms - token_read_ms_ < kTokenRereadMs) return;
  auto token = read_small_file(config_.token_file);
  if (!token.ok()) {
    // Keep the last token: the kubelet rewrites the file atomically, so a failed read is rare
    // and the old token is usually still valid for a while.
    spdlog::warn("cannot re-read the API token: {}", token.status().to_string());
    return;
  }
  if (token_loaded_ && *token != token_) spdlog::info("API token rotated; using the new one");
  token_ = *token;
  token_read_ms_ = now_ms;
  token_loaded_ = true;
}

Result<ApiResponse> KubeClient::request(const std::string& method, const std::string& path,
                                        const nlohmann::json* body, const char* content_type) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    refresh_token(attempt > 0);
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.headers.emplace("Accept", "application/json");
    if (!token_.empty()) req.headers.emplace("Authorization", "Bearer " + token_);
    if (body != nullptr) {
      req.body = body->dump();
      req.headers.emplace("Content-Type", content_type);
    }
    std::string received;
    bool too_large = false;
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (received.size() + n > kResponseBytesMax) {
        too_large = true;
        return false;
      }
      received.append(data, n);
      return true;
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    const bool sent = client_->send(req, res, error);
    if (too_large) return Status::TooLarge(method + " " + path + ": response over 16 MiB");
    if (!sent) {
      return Status::Unavailable(method + " " + path + ": " + describe(error));
    }
    // A rotated token is rejected with 401: read the file again once, then report.
    if (res.status == 401 && attempt == 0 && !config_.token_file.empty()) continue;
    ApiResponse out;
    out.http_status = res.status;
    if (!received.empty()) {
      out.body = nlohmann::json::parse(received, nullptr, false);
      if (out.body.is_discarded()) {
        return Status::Corruption(method + " " + path + ": the answer is not JSON");
      }
    }
    return out;
  }
  return Status::Unavailable(method + " " + path + ": unauthorized");
}

Result<ApiResponse> KubeClient::get(const std::string& path) {
  return request("GET", path, nullptr, nullptr);
}

Result<ApiResponse> KubeClient::create(const std::string& collection_path,
                                       const nlohmann::json& object) {
  return request("POST", collection_path, &object, "application/json");
}

Result<ApiResponse> KubeClient::replace(const std::string& path, const nlohmann::json& object) {
  return request("PUT", path, &object, "application/json");
}

Result<ApiResponse> KubeClient::merge_patch(const std::string& path, const nlohmann::json& patch) {
  return request("PATCH", path, &patch, "application/merge-patch+json");
}

Result<ApiResponse> KubeClient::remove(const std::string& path) {
  return request("DELETE", path, nullptr, nullptr);
}

Status KubeClient::watch(const std::string& path, int timeout_s,
                         const std::function<bool(const nlohmann::json& event)>& on_event) {
  refresh_token(false);
  // A watch holds its connection open: a client of its own, with a read timeout past the
  // server's timeoutSeconds, so a silent dead connection still ends.
  auto client = make_client(timeout_s * 1000 + kWatchReadSlackMs);
  httplib::Headers headers{{"Accept", "application/json"}};
  if (!token_.empty()) headers.emplace("Authorization", "Bearer " + token_);
  std::string pending;
  int http_status = 0;
  Status failure;
  auto res = client->Get(
      path, headers,
      [&](const httplib::Response& response) {
        http_status = response.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (http_status != 200) return true;  // an error body: the status says it all
        pending.append(data, n);
        size_t eol;
        while ((eol = pending.find('\n')) != std::string::npos) {
          const std::string line = pending.substr(0, eol);
          pending.erase(0, eol + 1);
          if (line.empty()) continue;
          auto event = nlohmann::json::parse(line, nullptr, false);
          if (event.is_discarded() || !event.is_object()) {
            failure = Status::Corruption("watch " + path + ": an event is not JSON");
            return false;
          }
          if (!on_event(event)) return false;
        }
        if (pending.size() > kWatchEventBytesMax) {
          failure = Status::TooLarge("watch " + path + ": an event over 4 MiB");
          return false;
        }
        return true;
      });
  if (!failure.ok()) return failure;
  if (http_status == 401) refresh_token(true);
  if (http_status == 410) {
    // The API answers an expired resourceVersion with HTTP 410 before the stream starts (and
    // with an ERROR event once it has): both look like an ERROR event to the caller.
    nlohmann::json event = {{"type", "ERROR"}, {"object", {{"kind", "Status"}, {"code", 410}}}};
    on_event(event);
    return Status::OK();
  }
  if (http_status != 0 && http_status != 200) {
    // 401/403 (credentials, RBAC), 429, 5xx: the caller backs off before watching again.
    return Status::Unavailable("watch " + path + ": HTTP " + std::to_string(http_status));
  }
  if (!res && res.error() != httplib::Error::Canceled) {
    return Status::Unavailable("watch " + path + ": " + describe(res.error()));
  }
  return Status::OK();
}

}  // namespace chorus::op
