// chorusctl's subcommands: each sends one request through a NodeClient, prints the answer
// (stdout) or the failure (stderr), and returns the process exit code (format.h: kExit*).
//
// Thread-safety: single-threaded; they write to stdout/stderr.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/node_client.h"

namespace chorus::cli {

struct GetOptions {
  std::string key;
  std::string r;        // ?r=; empty: the node's default
  bool base64 = false;  // print the value base64-encoded (one line)
  bool json = false;    // print the whole JSON answer
};

struct PutOptions {
  std::string key;
  std::optional<std::string> value;  // from the command line
  std::optional<std::string> file;   // or from a file; "-" is stdin
  std::string w;
  std::optional<uint64_t> ttl_s;
  bool sync = false;
  bool json = false;
};

struct DelOptions {
  std::string key;
  std::string w;
  bool sync = false;
  bool json = false;
};

int run_get(NodeClient& client, const GetOptions& options);
int run_put(NodeClient& client, const PutOptions& options);
int run_del(NodeClient& client, const DelOptions& options);
int run_status(NodeClient& client, bool json);
int run_owners(NodeClient& client, const std::string& key, bool json);
// POST /v1/cluster/nodes/{id}/{action} (action: decommission | remove); prints what was accepted.
int run_node_action(NodeClient& client, const std::string& id, const std::string& action,
                    bool json);
// POST /v1/admin/repair: queues a full anti-entropy sweep on the node.
int run_repair(NodeClient& client, bool json);
// GET /v1/admin/repair: per-partition verified epochs and the exchanges in flight.
int run_repair_status(NodeClient& client, bool json);

}  // namespace chorus::cli
