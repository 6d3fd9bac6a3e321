// KvService: what the HTTP API asks of the node. The api module parses and validates HTTP requests,
// calls this interface, and maps the outcome to JSON responses; the node implements it on top of
// the replication coordinator. Keeping it abstract lets the API be tested against a fake.
//
// Calls may complete on any thread (the `done` callback is invoked exactly once, possibly before
// the call returns). Implementations must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/hlc.h"
#include "core/record.h"
#include "core/status.h"

namespace chorus {

// A requested consistency level: `?r=` / `?w=` accept 1..N, `one`, `quorum`, `all`; absent means
// the node's configured default.
struct Consistency {
  enum class Kind { kDefault, kCount, kOne, kQuorum, kAll };
  Kind kind = Kind::kDefault;
  int count = 0;  // with kCount only: 1..N (the API checks >= 1; the service checks <= N)

  // The replica count this level asks for given N replicas and the configured default.
  int resolve(int replicas, int default_count) const {
    switch (kind) {
      case Kind::kDefault:
        return default_count;
      case Kind::kCount:
        return count;
      case Kind::kOne:
        return 1;
      case Kind::kQuorum:
        return replicas / 2 + 1;
      case Kind::kAll:
        return replicas;
    }
    return default_count;
  }
};

struct WriteArgs {
  std::string key;         // 1..kKeyBytesMax bytes, already validated by the API
  std::string value;       // <= max value bytes, already validated; empty for deletes
  bool tombstone = false;  // true for DELETE
  uint64_t ttl_s = 0;      // 0 = no expiry
  bool sync = false;       // fsync the engine WAL before acknowledging
  Consistency w;
};

struct WriteOutcome {
  // OK, InvalidArgument (e.g. w > N), Unavailable (fewer than `required` acks; `acks` says how
  // many), Timeout (deadline passed with `acks` < `required`).
  Status status;
  int acks = 0;
  int required = 0;
  Timestamp ts;      // the version written, when OK
  std::string node;  // the coordinator that stamped it
};

struct ReadArgs {
  std::string key;
  Consistency r;
};

struct ReadOutcome {
  // OK (record holds the newest version; it may be a tombstone or expired: the API answers 404
  // for those), NotFound (no replica holds any version), InvalidArgument, Unavailable, Timeout.
  Status status;
  int replies = 0;
  int required = 0;
  Record record;
};

// POST /v1/cluster/join and /v1/cluster/nodes/{id}/decommission|remove.
struct MembershipChange {
  enum class Kind { kJoin, kDecommission, kRemove };
  Kind kind = Kind::kDecommission;
  std::string id;
  std::string peer;  // kJoin only
  std::string http;  // kJoin only
};

class KvService {
 public:
  virtual ~KvService() = default;

  virtual void write(WriteArgs args, std::function<void(WriteOutcome)> done) = 0;
  virtual void read(ReadArgs args, std::function<void(ReadOutcome)> done) = 0;

  // GET /v1/cluster body (DESIGN.md §8).
  virtual nlohmann::json cluster_status() = 0;
  // Hands a membership change to the metadata leader. done: OK once accepted into its log,
  // NotFound (no such member), InvalidArgument, Unavailable (no leader), Busy (another change in
  // progress).
  virtual void change_membership(MembershipChange change, std::function<void(Status)> done) = 0;
  // GET /v1/ready: true once this node can coordinate requests: ring formed and caught up with
  // the metadata log's leader.
  virtual bool ready() = 0;
  // GET /v1/debug/owners/{key}: {"key", "partition", "owners": [...]}.
  virtual nlohmann::json debug_owners(const std::string& key) = 0;
  // GET /v1/debug/local/{key}: this node's own replica, NotFound when it holds none.
  virtual Result<Record> debug_local(const std::string& key) = 0;
  // POST /v1/admin/repair: queues a full anti-entropy sweep of every partition this node
  // replicates. Unavailable when anti-entropy is not running.
  virtual Status repair_now() = 0;
  // GET /v1/admin/repair: anti-entropy progress (per-partition verified epoch, work in flight).
  virtual nlohmann::json repair_status() = 0;
};

}  // namespace chorus
