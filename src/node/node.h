// Node: wires the modules of one Chorus node together and runs them (DESIGN.md §3).
//
// It owns the io_context and its threads, the engines, the transport, membership, the coordinator
// and replica service, hint delivery and the HTTP API, and connects them; it holds no request or
// protocol logic itself. SIGHUP re-reads the ACL file, the gossip keyring and the TLS files.
// start() opens everything and returns the first error; run() blocks until SIGTERM/SIGINT (or
// stop()) and then shuts down in order: stop accepting, drain, flush engines.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "engines/engine.h"

namespace chorus {

struct NodeOptions {
  std::string id;
  std::string http_address = "127.0.0.1:8080";
  std::string peer_address = "127.0.0.1:7000";
  std::string data_dir = "./data";
  std::vector<std::string> seeds;
  size_t bootstrap_expect = 1;
  EngineKind engine = EngineKind::kRocksDB;
  int replicas = 3;
  int read_quorum = 2;
  int write_quorum = 2;
  uint32_t partitions = 256;
  int threads = 0;  // 0 = hardware concurrency
  size_t max_value_bytes = 1 << 20;
  uint64_t request_timeout_ms = 2000;
  uint64_t epoch_interval_s = 30;
  uint64_t stream_bytes_per_s = 32 << 20;
  // Free space kept on the data disk: below it the engines refuse writes (EngineOptions).
  uint64_t disk_reserve_bytes = uint64_t{64} << 20;
  bool hints_enabled = true;
  size_t hints_per_second_max = 2000;
  // Anti-entropy (DESIGN.md §7).
  bool aae_enabled = true;
  uint64_t aae_max_bytes_per_s = 8 << 20;
  size_t aae_max_exchanges = 2;
  uint64_t aae_full_sweep_interval_s = 24 * 3600;
  size_t aae_leaves = 64;
  uint64_t tombstone_grace_s = 10 * 24 * 3600;
  // Security (DESIGN.md §10); empty = off. Every file is re-read on SIGHUP.
  std::string acl_file;    // --acl-file: HTTP API tokens and their rules
  std::string gossip_key;  // --gossip-key: keyring sealing every gossip datagram
  std::string tls_cert;    // --tls-cert/--tls-key/--tls-ca (together): HTTPS on --http; the
  std::string tls_key;     //   certificate's Common Name must be --id
  std::string tls_ca;
  // --security-reload-check-s: also re-read those files when their contents change, checked this
  // often (0 = only on SIGHUP). Kubernetes updates a mounted Secret in place but sends no SIGHUP.
  uint64_t security_reload_check_s = 0;
  // Protected mode (DESIGN.md §10): without this, a node whose --http or --peer is not a loopback
  // address refuses to start unless TLS, --acl-file and --gossip-key are all set.
  bool insecure = false;
};

// True for "localhost", 127.0.0.0/8 and ::1 (with or without brackets), given "host:port".
bool is_loopback_address(const std::string& host_port);

// Checks flag values and their relationships; InvalidArgument says which flag is wrong and why.
Status validate(const NodeOptions& options);

class Node {
 public:
  explicit Node(NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  Status start();
  // Runs until SIGTERM/SIGINT or stop(); then shuts down cleanly.
  void run();
  // Thread-safe; makes run() return.
  void stop();

 private:
  // How often shutdown checks whether the requests in flight have finished.
  static constexpr uint64_t kDrainPollMs = 10;

  struct Parts;
  // start(), in order; each step uses only what the steps before it opened.
  // Loads --acl-file, --gossip-key and the TLS files; the error names the file.
  Status open_security();
  // The data directory (refusing one whose node has departed), the store and the hint store.
  Status open_storage();
  // The transport, the replica, cluster membership, the stream service and anti-entropy (opened
  // before any write can arrive, so its ledger sees every late write).
  Status open_cluster();
  // Internode TLS, the RPC routing (members only for data traffic) and the peer listener.
  Status serve_peers();
  // The coordinator, hint delivery and partition streaming; then membership and the background
  // services start.
  Status start_replication();
  // The node service, the HTTP API and its listener.
  Status serve_clients();
  // Signals, security reloads and the io threads.
  void start_threads();
  // Re-reads them on every SIGHUP; a file that fails to load leaves the old one in force.
  void reload_on_sighup();
  // Re-reads every security file; `why` ("SIGHUP", "files changed") starts each log line.
  void reload_security(const char* why);
  void watch_security_files();
  // Shuts the node down once no request is in flight or the deadline passed.
  void drain(uint64_t deadline_ms);

  NodeOptions options_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace chorus
