#include "k8s/operator/watch_state.h"

namespace chorus::op {

using nlohmann::json;

std::vector<json> WatchState::listed(const json& list) {
  resource_version_.clear();
  std::vector<json> items;
  if (!list.is_object()) return items;
  if (list.contains("metadata") && list["metadata"].is_object()) {
    resource_version_ = list["metadata"].value("resourceVersion", "");
  }
  if (list.contains("items") && list["items"].is_array()) {
    for (const json& item : list["items"]) items.push_back(item);
  }
  return items;
}

void WatchState::advance(const json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return;
  }
  const std::string rv = object["metadata"].value("resourceVersion", "");
  if (!rv.empty()) resource_version_ = rv;
}

WatchEvent WatchState::on_event(const json& event) {
  WatchEvent out;
  const std::string type = event.value("type", "");
  const json object = event.contains("object") ? event["object"] : json();
  if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
    advance(object);
    out.kind = type == "DELETED" ? WatchEventKind::kDelete : WatchEventKind::kUpsert;
    out.object = object;
    return out;
  }
  if (type == "BOOKMARK") {
    advance(object);
    out.kind = WatchEventKind::kBookmark;
    return out;
  }
  if (type == "ERROR" && object.is_object() && object.value("code", 0) == 410) {
    // Our version is older than the API server keeps history for: only a fresh list is
    // consistent again.
    resource_version_.clear();
    out.kind = WatchEventKind::kRelist;
    return out;
  }
  out.kind = WatchEventKind::kRewatch;
  return out;
}

std::string WatchState::watch_query(int timeout_s) const {
  return "watch=1&allowWatchBookmarks=true&resourceVersion=" + resource_version_ +
         "&timeoutSeconds=" + std::to_string(timeout_s);
}

}  // namespace chorus::op
