// LocalCluster: N real chorusd processes on loopback addresses, for multi-process tests
// (DESIGN §9.3).
//
// Addressing: each cluster takes a random /24 block 127.X.Y.0 (X in [kBlockFirstOctetMin,
// kBlockFirstOctetMax], Y any), seeded from pid and time; node i (1-based) is n<i> on 127.X.Y.i,
// HTTP port kHttpPort, peer (TCP + UDP) port kPeerPort. Parallel test processes therefore never
// collide on ports, and a restarted node comes back on its own address. Blocks are unique within
// the process, and a block whose ports are already bound (by another test process) is skipped.
//
// Data: a fresh root /tmp/chorus-test-XXXXXX, created by start(); node i uses <root>/n<i>/data
// as --data and appends its stdout/stderr to <root>/n<i>/chorusd.log (each start adds a marker
// line). The destructor stops every node and removes the root unless the environment variable
// CHORUS_KEEP_DATA is set or keep_data() was called (e.g. after a failed check).
//
// Thread-safety: not thread-safe; drive one LocalCluster from one thread at a time (a nemesis
// thread that kills/restarts nodes must not race the test thread on the same cluster without
// external locking). Processes are started from testkit's spawner thread, so a node survives
// the thread that started it (see process.h).
// Errors: methods return a non-OK Status naming the node and the reason (binary not found,
// spawn failure, node exited, not ready by the deadline); node indexes out of range are caller
// mistakes and abort.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "security/cert_issuer.h"
#include "tests/testkit/client.h"
#include "tests/testkit/process.h"

namespace chorus::testkit {

inline constexpr int kHttpPort = 8080;
inline constexpr int kPeerPort = 7000;
inline constexpr int kBlockFirstOctetMin = 100;
inline constexpr int kBlockFirstOctetMax = 250;
// Nodes per cluster; host parts 1..kMaxNodes of the /24 block.
inline constexpr int kMaxNodes = 64;
// Blocks tried before giving up on finding one with free ports.
inline constexpr int kBlockPickAttemptsMax = 32;
// How long stop()/stop_all() wait after SIGTERM before SIGKILL.
inline constexpr int kGracefulStopTimeoutMs = 5000;
// How long kill(i, SIGKILL) waits for the kernel to reap the node.
inline constexpr int kKillReapTimeoutMs = 5000;
// Lines of a node log printed by dump_logs().
inline constexpr int kDumpLogLines = 60;
static_assert(kMaxNodes < 255, "node host parts must fit in the last octet of a /24");

struct ClusterOptions {
  int nodes = 3;
  // --bootstrap-expect of the initial nodes; 0 means `nodes`.
  int bootstrap_expect = 0;
  std::string engine = "rocksdb";
  int replicas = 3;
  int read_quorum = 2;
  int write_quorum = 2;
  std::string log_level = "info";
  // Appended to every node's command line (e.g. "--hints=false").
  std::vector<std::string> extra_args;
  // chorusd to run; empty: find_chorusd().
  std::string binary;
  // Issue a CA and a certificate per node (CN = its id, subjectAltName = its host) in
  // <data root>/tls, and start every node with --tls-cert/--tls-key/--tls-ca: HTTPS everywhere.
  bool tls = false;
  // Everything protected mode asks for: TLS as above, plus an ACL file with one admin token and a
  // gossip keyring (in <data root>/secure) on every node; client_options() then carries the
  // token. CHORUS_TEST_SECURE=1 in the environment turns it on for every cluster: that is how
  // ctest runs the cluster tests a second time with security on.
  bool secure = false;
  // Where the nodes live. Empty: the loopback block above. A test that builds its own network
  // (tests/nemesis: a network namespace per node) names node i's host at hosts[i - 1]; nodes added
  // later need an entry too. No port probing then: the addresses belong to that network.
  std::vector<std::string> hosts;
  // The command in front of chorusd for node i, called at every start (e.g. {"/usr/sbin/ip",
  // "netns", "exec", NS, "/usr/bin/env", "LD_PRELOAD=..."}: chorusd inside a namespace, under a
  // faked clock). Its first element is the program run, by path (execv: no PATH search); it
  // must exec chorusd in the same process, so signals reach the node. Empty: chorusd itself.
  std::function<std::vector<std::string>(int i)> launcher;
};

// Where one node listens.
struct NodeAddress {
  std::string id;    // "n1"
  std::string host;  // "127.X.Y.1"
  int http_port = kHttpPort;
  int peer_port = kPeerPort;

  std::string http() const { return host + ":" + std::to_string(http_port); }  // host:port
  std::string peer() const { return host + ":" + std::to_string(peer_port); }
  std::string http_url() const { return "http://" + http(); }
};

// Writes `text` to `path` through a temporary file and a rename: a node reading the file (at start
// or on SIGHUP) never sees half of it.
[[nodiscard]] Status write_file_atomically(const std::string& path, const std::string& text);

class LocalCluster {
 public:
  // Picks the address block; starts nothing.
  explicit LocalCluster(ClusterOptions options = {});
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // The chorusd binary: $CHORUSD if set, else <build>/src/chorusd found by walking up from the
  // running test binary. NotFound if neither exists.
  static Result<std::string> find_chorusd();

  // Creates the data root and starts every node with --seeds listing all peer addresses and
  // --bootstrap-expect N. On error, nodes already started keep running (stop_all() or the
  // destructor ends them).
  Status start();

  // Polls GET /v1/ready on every running, not paused node until all answer 200. Fails at once if
  // a node that should be running has exited, or with Timeout naming the nodes not ready.
  Status wait_ready(int timeout_ms);

  int size() const { return static_cast<int>(nodes_.size()); }
  const NodeAddress& node(int i) const;  // i in 1..size()
  std::vector<NodeAddress> nodes() const;
  std::string data_root() const { return root_; }
  std::string data_dir(int i) const;  // --data of node i
  std::string log_path(int i) const;
  // With ClusterOptions::tls: the CA file, and node i's certificate and key; empty otherwise.
  std::string tls_ca() const;
  std::string tls_cert(int i) const;
  std::string tls_key(int i) const;
  // Node i's HTTP API base URL: https:// with TLS.
  std::string url(int i) const;
  // The chorusctl flags that reach this cluster: --cacert with TLS, --token when secure.
  std::vector<std::string> chorusctl_args() const;
  // Options for a KvClient of this cluster (the CA when TLS is on, the admin token when secure).
  ClientOptions client_options() const;
  // With ClusterOptions::secure: the admin token, the ACL file and the gossip keyring file.
  const std::string& admin_token() const { return admin_token_; }
  std::string acl_file() const;
  std::string gossip_key_file() const;
  // Issues (again) node i's certificate from the cluster CA, e.g. to rotate it; the node reads it
  // on SIGHUP. Requires ClusterOptions::tls.
  Status issue_certificate(int i);
  // A certificate from the cluster CA for any name (an identity the CA vouches for that is not a
  // node of this cluster). Requires ClusterOptions::tls.
  Result<security::PemPair> issue_identity(const std::string& common_name,
                                           const std::vector<std::string>& hosts) const;

  // Adds node n<size()+1> on the next host of the block (same ports) and starts it with --seeds
  // listing every node and the cluster's original --bootstrap-expect, so it joins the running
  // cluster. Requires start() first. Returns the new node's index. With `cluster_tls` false the
  // node gets none of the cluster's TLS flags: a stranger with its own credentials (in
  // extra_args) or none.
  Result<int> add_node(std::vector<std::string> extra_args = {}, bool cluster_tls = true);
  // Waits for node i to exit on its own (a decommissioned node leaves); then the node no longer
  // counts as running (wait_ready skips it). Returns its exit status, or Timeout.
  Result<int> wait_exit(int i, int timeout_ms);

  // Extra arguments for node i only, used from its next start (start() or restart()).
  void set_node_args(int i, std::vector<std::string> args);

  // Sends a signal to node i. SIGKILL also waits until the node is reaped, so on return it is
  // gone and its ports are free; SIGSTOP marks it paused (wait_ready skips it), SIGCONT resumes.
  Status kill(int i, int signal = SIGKILL);
  // SIGTERM, then SIGKILL if it has not exited after kGracefulStopTimeoutMs.
  Status stop(int i);
  // Starts node i again with the same id, addresses and data dir; if it is still running it is
  // first SIGKILLed (a crash-restart).
  Status restart(int i);
  // True if node i's process exists and has not exited (paused counts as running).
  bool running(int i);
  bool paused(int i) const;
  // Stops every node: SIGCONT for paused ones, SIGTERM to all, SIGKILL to those still running
  // after kGracefulStopTimeoutMs.
  void stop_all();

  // Prints the last `lines` lines of node i's log to stderr and returns them.
  std::string dump_logs(int i, int lines = kDumpLogLines) const;
  void dump_all_logs(int lines = kDumpLogLines) const;
  // Keep the data root after destruction (its path is printed then).
  void keep_data() { keep_data_ = true; }

 private:
  struct NodeState {
    NodeAddress address;
    std::vector<std::string> extra_args;
    std::unique_ptr<Process> process;
    bool paused = false;
    bool cluster_tls = true;
    int starts = 0;
  };

  NodeState& state(int i);
  const NodeState& state(int i) const;
  std::string host_of(int i) const;
  std::vector<std::string> args_for(const NodeState& node) const;
  Status start_node(NodeState& node);
  Status make_root();
  Status make_ca();
  Status make_secure_files();

  ClusterOptions options_;
  int bootstrap_expect_ = 0;  // the initial node count; nodes added later join instead
  int block_x_ = 0;
  int block_y_ = 0;
  std::vector<NodeState> nodes_;
  std::string root_;  // empty until start()
  std::string binary_;
  security::PemPair ca_;     // with ClusterOptions::tls, from start()
  std::string admin_token_;  // with ClusterOptions::secure, from start()
  bool keep_data_ = false;
};

}  // namespace chorus::testkit
