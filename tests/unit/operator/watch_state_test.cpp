// List-then-watch bookkeeping: versions, event kinds, and 410 Gone.
#include <catch2/catch.hpp>

#include "k8s/operator/watch_state.h"

namespace chorus::op {
namespace {

using nlohmann::json;

json obj(const std::string& name, const std::string& rv) {
  return {{"metadata", {{"name", name}, {"resourceVersion", rv}}}};
}

TEST_CASE("watch state: a list gives the items and the version to resume from") {
  WatchState s;
  CHECK(s.resource_version().empty());
  const auto items = s.listed(
      {{"metadata", {{"resourceVersion", "50"}}}, {"items", {obj("a", "10"), obj("b", "40")}}});
  CHECK(items.size() == 2);
  CHECK(s.resource_version() == "50");
  CHECK(s.watch_query(30) ==
        "watch=1&allowWatchBookmarks=true&resourceVersion=50&timeoutSeconds=30");
}

TEST_CASE("watch state: events move the version and say what changed") {
  WatchState s;
  s.listed({{"metadata", {{"resourceVersion", "50"}}}, {"items", json::array()}});
  WatchEvent e = s.on_event({{"type", "ADDED"}, {"object", obj("a", "51")}});
  CHECK(e.kind == WatchEventKind::kUpsert);
  CHECK(e.object["metadata"]["name"] == "a");
  CHECK(s.on_event({{"type", "MODIFIED"}, {"object", obj("a", "52")}}).kind ==
        WatchEventKind::kUpsert);
  CHECK(s.on_event({{"type", "DELETED"}, {"object", obj("a", "53")}}).kind ==
        WatchEventKind::kDelete);
  CHECK(s.on_event({{"type", "BOOKMARK"}, {"object", obj("", "60")}}).kind ==
        WatchEventKind::kBookmark);
  CHECK(s.resource_version() == "60");
}

TEST_CASE("watch state: 410 Gone asks for a fresh list and other errors for a new watch") {
  WatchState s;
  s.listed({{"metadata", {{"resourceVersion", "50"}}}, {"items", json::array()}});
  WatchEvent other = s.on_event({{"type", "ERROR"}, {"object", {{"code", 500}}}});
  CHECK(other.kind == WatchEventKind::kRewatch);
  CHECK(s.resource_version() == "50");
  WatchEvent gone =
      s.on_event({{"type", "ERROR"}, {"object", {{"kind", "Status"}, {"code", 410}}}});
  CHECK(gone.kind == WatchEventKind::kRelist);
  CHECK(s.resource_version().empty());
}

}  // namespace
}  // namespace chorus::op
