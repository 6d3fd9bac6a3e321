#include "tests/operator/fake_apiserver.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <sstream>

namespace chorus::testkit {

using nlohmann::json;

namespace {

constexpr int kWatchPollMs = 100;

struct ApiPath {
  std::string collection;  // "/apis/apps/v1/namespaces/ns/statefulsets"
  std::string name;        // empty for the collection
  std::string subresource;
};

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream in(path);
  std::string seg;
  while (std::getline(in, seg, '/')) {
    if (!seg.empty()) out.push_back(seg);
  }
  return out;
}

std::optional<ApiPath> parse_path(const std::string& path) {
  const auto s = split(path);
  size_t i = 0;
  std::string prefix;
  if (s.size() >= 2 && s[0] == "api") {
    prefix = "/api/" + s[1];
    i = 2;
  } else if (s.size() >= 3 && s[0] == "apis") {
    prefix = "/apis/" + s[1] + "/" + s[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  if (s.size() < i + 3 || s.size() > i + 5 || s[i] != "namespaces") return std::nullopt;
  ApiPath p;
  p.collection = prefix + "/namespaces/" + s[i + 1] + "/" + s[i + 2];
  if (s.size() > i + 3) p.name = s[i + 3];
  if (s.size() > i + 4) p.subresource = s[i + 4];
  if (!p.subresource.empty() && p.subresource != "status") return std::nullopt;
  return p;
}

std::string collection_of(const std::string& item_path) {
  return item_path.substr(0, item_path.rfind('/'));
}

json status_body(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
          {"code", code},     {"reason", reason},   {"message", message}};
}

bool matches(const json& object, const std::string& selector) {
  if (selector.empty()) return true;
  const json labels = object.value("metadata", json::object()).value("labels", json::object());
  std::stringstream in(selector);
  std::string term;
  while (std::getline(in, term, ',')) {
    const size_t eq = term.find('=');
    if (eq == std::string::npos) return false;
    const std::string key = term.substr(0, eq);
    if (!labels.contains(key) || labels[key] != term.substr(eq + 1)) return false;
  }
  return true;
}

std::string namespace_of(const std::string& collection) {
  const auto s = split(collection);
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == "namespaces") return s[i + 1];
  }
  return "";
}

}  // namespace

FakeApiServer::FakeApiServer() : server_(std::make_unique<httplib::Server>()) {}

FakeApiServer::~FakeApiServer() {
  stop();
}

Status FakeApiServer::start() {
  server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Patch(".*", handler);
  server_->Delete(".*", handler);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return Status::IOError("fake API server: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::OK();
}

void FakeApiServer::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeApiServer::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void FakeApiServer::set_tokens(std::set<std::string> tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  tokens_ = std::move(tokens);
}

std::optional<json> FakeApiServer::get(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(path);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> FakeApiServer::list(const std::string& collection_path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<json> out;
  for (const auto& [path, object] : objects_) {
    if (collection_of(path) == collection_path) out.push_back(object);
  }
  return out;
}

json FakeApiServer::put(const std::string& path, json object) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool created = objects_.count(path) == 0;
  return store_locked(path, std::move(object), created);
}

Status FakeApiServer::patch(const std::string& path, const json& patch) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(path);
  if (it == objects_.end()) return Status::NotFound(path);
  json merged = it->second;
  merged.merge_patch(patch);
  store_locked(path, std::move(merged), false);
  return Status::OK();
}

void FakeApiServer::remove(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(path);
  if (it == objects_.end()) return;
  json gone = it->second;
  objects_.erase(it);
  emit_locked("DELETED", path, gone);
}

void FakeApiServer::fail_next(const std::string& method, const std::string& path_part,
                              int http_status, int count) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.push_back({method, path_part, http_status, count});
}

void FakeApiServer::compact() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    history_.clear();
    compacted_rv_ = rv_;
    ++watch_generation_;
  }
  changed_.notify_all();
}

uint64_t FakeApiServer::served(const std::string& method_and_status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = served_.find(method_and_status);
  return it == served_.end() ? 0 : it->second;
}

uint64_t FakeApiServer::requests_with_token(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = token_uses_.find(token);
  return it == token_uses_.end() ? 0 : it->second;
}

json FakeApiServer::store_locked(const std::string& path, json object, bool created) {
  const auto it = objects_.find(path);
  json& md = object["metadata"];
  md["name"] = path.substr(path.rfind('/') + 1);
  md["namespace"] = namespace_of(collection_of(path));
  if (created) {
    md["uid"] = "uid-" + std::to_string(++uid_);
    md["creationTimestamp"] = "2026-01-01T00:00:00Z";
    md["generation"] = 1;
  } else {
    const json& old = it->second;
    md["uid"] = old["metadata"]["uid"];
    md["creationTimestamp"] = old["metadata"]["creationTimestamp"];
    const int64_t generation = old["metadata"].value("generation", int64_t{1});
    md["generation"] =
        old.value("spec", json()) != object.value("spec", json()) ? generation + 1 : generation;
  }
  md["resourceVersion"] = std::to_string(++rv_);
  objects_[path] = object;
  emit_locked(created ? "ADDED" : "MODIFIED", path, object);
  return object;
}

void FakeApiServer::emit_locked(const std::string& type, const std::string& path,
                                const json& object) {
  json copy = object;
  if (type == "DELETED") copy["metadata"]["resourceVersion"] = std::to_string(++rv_);
  const uint64_t rv = std::stoull(copy["metadata"]["resourceVersion"].get<std::string>());
  history_.push_back({rv, collection_of(path), type, std::move(copy)});
  while (history_.size() > kWatchHistoryMax) {
    compacted_rv_ = history_.front().rv;
    history_.pop_front();
  }
  changed_.notify_all();
}

void FakeApiServer::handle(const httplib::Request& req, httplib::Response& res) {
  const bool watching = req.method == "GET" && req.get_param_value("watch") == "1";
  const std::string method = watching ? "WATCH" : req.method;
  auto reply = [&](int code, const json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
    std::lock_guard<std::mutex> lock(mu_);
    count_locked(method + " " + std::to_string(code));
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string auth = req.get_header_value("Authorization");
    const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
    ++token_uses_[token];
    if (!tokens_.empty() && tokens_.count(token) == 0) {
      res.status = 401;
      res.set_content(status_body(401, "Unauthorized", "Unauthorized").dump(), "application/json");
      count_locked(method + " 401");
      return;
    }
    for (Fault& f : faults_) {
      if (f.remaining > 0 && f.method == method &&
          req.path.find(f.path_part) != std::string::npos) {
        --f.remaining;
        res.status = f.http_status;
        res.set_content(status_body(f.http_status, "Injected", "injected fault").dump(),
                        "application/json");
        count_locked(method + " " + std::to_string(f.http_status));
        return;
      }
    }
  }
  const auto p = parse_path(req.path);
  if (!p) return reply(404, status_body(404, "NotFound", "no such path " + req.path));
  const std::string item = p->collection + "/" + p->name;
  if (watching) {
    if (!p->name.empty()) return reply(400, status_body(400, "BadRequest", "watch a collection"));
    const std::string rv = req.get_param_value("resourceVersion");
    const int timeout_s =
        req.has_param("timeoutSeconds") ? std::stoi(req.get_param_value("timeoutSeconds")) : 300;
    return watch(p->collection, req.get_param_value("labelSelector"),
                 rv.empty() ? 0 : std::stoull(rv), timeout_s, res);
  }
  json body;
  if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return reply(400, status_body(400, "BadRequest", "the body is not a JSON object"));
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  auto it = p->name.empty() ? objects_.end() : objects_.find(item);
  const bool exists = it != objects_.end();
  // By value: the copy is made while mu_ is held (another thread may replace the object).
  auto answer = [&](int code, json out) {
    lock.unlock();
    reply(code, out);
  };
  if (req.method == "GET" && p->name.empty()) {
    json items = json::array();
    const std::string selector = req.get_param_value("labelSelector");
    for (const auto& [path, object] : objects_) {
      if (collection_of(path) == p->collection && matches(object, selector))
        items.push_back(object);
    }
    return answer(200, {{"kind", "List"},
                        {"apiVersion", "v1"},
                        {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                        {"items", items}});
  }
  if (req.method == "POST") {
    if (!p->name.empty()) return answer(405, status_body(405, "MethodNotAllowed", "POST an item"));
    const std::string name = body["metadata"].value("name", "");
    if (name.empty()) return answer(422, status_body(422, "Invalid", "metadata.name is required"));
    const std::string path = p->collection + "/" + name;
    if (objects_.count(path)) {
      return answer(409, status_body(409, "AlreadyExists", name + " already exists"));
    }
    body.erase("status");
    return answer(201, store_locked(path, std::move(body), true));
  }
  if (!exists) return answer(404, status_body(404, "NotFound", item + " not found"));
  if (req.method == "GET") return answer(200, it->second);
  if (req.method == "DELETE") {
    json gone = it->second;
    objects_.erase(it);
    emit_locked("DELETED", item, gone);
    return answer(200, gone);
  }
  json updated = it->second;
  if (req.method == "PUT") {
    const std::string sent_rv = body["metadata"].value("resourceVersion", "");
    if (!sent_rv.empty() && sent_rv != it->second["metadata"].value("resourceVersion", "")) {
      return answer(409, status_body(409, "Conflict",
                                     "the object has been modified; please apply your changes "
                                     "to the latest version and try again"));
    }
    if (p->subresource == "status") {
      updated["status"] = body.value("status", json::object());
    } else {
      const json status = updated.value("status", json());
      updated = body;
      if (!status.is_null()) updated["status"] = status;
      updated["metadata"]["labels"] = body["metadata"].value("labels", json::object());
    }
  } else {  // PATCH, merge patch
    if (p->subresource == "status") {
      json status = updated.value("status", json::object());
      status.merge_patch(body.value("status", json::object()));
      updated["status"] = status;
    } else {
      body.erase("status");
      updated.merge_patch(body);
    }
  }
  return answer(200, store_locked(item, std::move(updated), false));
}

void FakeApiServer::watch(const std::string& collection, const std::string& selector,
                          uint64_t from_rv, int timeout_s, httplib::Response& res) {
  std::vector<json> initial;
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = watch_generation_;
    if (from_rv != 0 && from_rv < compacted_rv_) {
      count_locked("WATCH 410");
      json gone = {{"type", "ERROR"},
                   {"object", status_body(410, "Expired", "too old resource version")}};
      res.status = 200;
      res.set_content(gone.dump() + "\n", "application/json");
      return;
    }
    count_locked("WATCH 200");
    if (from_rv == 0) {
      // No version: the current state first, as synthetic ADDED events.
      for (const auto& [path, object] : objects_) {
        if (collection_of(path) == collection && matches(object, selector)) {
          initial.push_back({{"type", "ADDED"}, {"object", object}});
        }
      }
      from_rv = rv_;
    }
  }
  struct Cursor {
    uint64_t rv;
    std::vector<json> pending;
    std::chrono::steady_clock::time_point deadline;
  };
  auto cursor = std::make_shared<Cursor>(
      Cursor{from_rv, std::move(initial),
             std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s)});
  res.set_chunked_content_provider(
      "application/json",
      [this, cursor, collection, selector, generation](size_t, httplib::DataSink& sink) {
        std::vector<json> out = std::move(cursor->pending);
        cursor->pending.clear();
        bool end = false;
        {
          std::unique_lock<std::mutex> lock(mu_);
          auto has_news = [&] {
            return stopping_ || watch_generation_ != generation ||
                   (!history_.empty() && history_.back().rv > cursor->rv);
          };
          if (out.empty()) {
            changed_.wait_for(lock, std::chrono::milliseconds(kWatchPollMs), has_news);
          }
          end = stopping_ || watch_generation_ != generation ||
                std::chrono::steady_clock::now() >= cursor->deadline;
          // History is in version order: start after the cursor instead of rescanning it all
          // on every poll.
          const auto first =
              std::upper_bound(history_.begin(), history_.end(), cursor->rv,
                               [](uint64_t rv, const Event& e) { return rv < e.rv; });
          for (auto e_it = first; e_it != history_.end(); ++e_it) {
            const Event& e = *e_it;
            if (e.collection != collection) continue;
            if (matches(e.object, selector))
              out.push_back({{"type", e.type}, {"object", e.object}});
          }
          if (!history_.empty()) cursor->rv = std::max(cursor->rv, history_.back().rv);
        }
        for (const json& e : out) {
          const std::string line = e.dump() + "\n";
          if (!sink.write(line.data(), line.size())) return false;
        }
        if (end) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            count_locked("WATCH END");
          }
          sink.done();
        }
        return true;
      });
}

}  // namespace chorus::testkit
