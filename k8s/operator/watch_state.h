// List-then-watch bookkeeping for one collection (client-go's Reflector, reduced): the
// resourceVersion to resume from, and what each watch event means. Pure: the caller does the
// HTTP and feeds the answers in.
//
//   listed(list)      after a GET of the collection: every item is current; resume from the
//                     list's resourceVersion.
//   on_event(event)   for each watch event: ADDED/MODIFIED/DELETED carry an object and move the
//                     resourceVersion; BOOKMARK only moves it; ERROR 410 (Gone: the version was
//                     compacted away) means list again; other ERRORs mean watch again.
//
// Thread-safety: none; the watch loop owns it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace chorus::op {

enum class WatchEventKind { kUpsert, kDelete, kBookmark, kRelist, kRewatch };

struct WatchEvent {
  WatchEventKind kind = WatchEventKind::kRewatch;
  nlohmann::json object;  // for kUpsert and kDelete
};

class WatchState {
 public:
  // Returns the items of a List (an empty vector when it has none).
  std::vector<nlohmann::json> listed(const nlohmann::json& list);
  WatchEvent on_event(const nlohmann::json& event);

  // Empty before the first list and after a 410: the caller must list.
  const std::string& resource_version() const { return resource_version_; }
  // The query that resumes the watch (without the leading '?').
  std::string watch_query(int timeout_s) const;

 private:
  void advance(const nlohmann::json& object);

  std::string resource_version_;
};

}  // namespace chorus::op
