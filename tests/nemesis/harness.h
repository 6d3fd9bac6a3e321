// The nemesis harness: a LocalCluster whose nodes each live in their own network namespace of a
// NetworkLab, a concurrent workload recorded into a History, and the faults the nemesis tests
// inject (partitions, pauses, clock skew, a full disk) with the measurements they report.
//
// Harness: constructed on the test thread, it builds the lab and moves that thread into the
// lab's client namespace for its whole life (every HTTP request the test makes goes to a lab
// address from inside the lab); the destructor stops the nodes, unmounts a tmpfs it mounted,
// returns the thread to its namespace and deletes the lab.
//   Clock skew: with HarnessOptions::fake_clocks every node runs under Debian's libfaketime,
//   reading its offset from a file of its own (set_clock_offset) about once a second; only the
//   wall clock moves, CLOCK_MONOTONIC stays real (timers and deadlines are unaffected).
//   A full disk: with HarnessOptions::small_disk_node = k, node k's data directory is a tmpfs of
//   small_disk_bytes; fill_disk() takes all its free space with a filler file and free_disk()
//   deletes the file.
//
// Workload: client threads (each in the client namespace), a few per node and each bound to its
// node as an application server would be, issue random puts, deletes and quorum reads over shared
// and per-client keys, recording each operation into a History and into per-phase availability
// counts. Bound clients keep the healthy side busy while the clients of a paused or cut-off node
// wait out their timeouts. Phases are named intervals the test
// marks as it injects and heals faults.
//
// Thread-safety: Harness and measure_recovery() belong to the test thread; Workload's methods may
// be called from the test thread while its clients run.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "tests/nemesis/network_lab.h"
#include "tests/testkit/cluster.h"
#include "tests/testkit/history.h"

namespace chorus::nemesis {

inline constexpr const char* kFaketimeLibrary =
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
inline constexpr int kReadyTimeoutMs = 60'000;
// Requests the workload makes give up after this long (longer than the node's deadline).
inline constexpr int kClientReadTimeoutMs = 4000;

struct HarnessOptions {
  int nodes = 3;
  std::vector<std::string> extra_args;
  bool fake_clocks = false;
  int small_disk_node = 0;  // 0: none
  // Room for both engines' write-ahead logs (RocksDB preallocates 1.1 x the 32 MiB write buffer
  // each) and the node's --disk-reserve-bytes.
  uint64_t small_disk_bytes = 128ull << 20;
  // --disk-reserve-bytes of every node when there is a small disk (the default 64 MiB would not
  // leave the small disk any room).
  uint64_t small_disk_reserve_bytes = 16ull << 20;
};

class Harness {
 public:
  explicit Harness(HarnessOptions options);
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Starts the cluster and waits until every node is ready.
  Status start();

  NetworkLab& lab() { return lab_; }
  testkit::LocalCluster& cluster() { return *cluster_; }
  int nodes() const { return options_.nodes; }

  // Node i's wall clock runs `offset_s` seconds off from now on (within about a second).
  Status set_clock_offset(int i, int offset_s);
  // Takes every free byte of the small disk; frees it again.
  Status fill_disk();
  Status free_disk();
  // The Raft leader as a node index, asked of node `via`; 0 if there is none (yet).
  int raft_leader(int via);
  // Dumps every node's log (on failure).
  void dump_logs() { cluster_->dump_all_logs(); }

 private:
  std::string clock_file(int i) const;
  Status mount_small_disk();

  HarnessOptions options_;
  NetworkLab lab_;
  std::unique_ptr<NamespaceScope> in_lab_;
  std::unique_ptr<testkit::LocalCluster> cluster_;
  std::string clock_dir_;
  std::string mounted_;  // the tmpfs mount point, once mounted
};

// Availability of one phase: operations that started in it and how many succeeded (an
// acknowledged write or delete, a read that found a value or answered 404).
struct PhaseAvailability {
  std::string name;
  double seconds = 0;
  size_t writes = 0;
  size_t writes_ok = 0;
  size_t reads = 0;
  size_t reads_ok = 0;
  std::vector<std::pair<size_t, size_t>> by_node;  // [node - 1]: (succeeded, operations)
  std::string to_string() const;
};

struct WorkloadOptions {
  int clients_per_node = 2;
  int shared_keys = 8;
  int own_keys_per_client = 16;
  uint32_t seed = 1;
};

class Workload {
 public:
  Workload(testkit::LocalCluster& cluster, std::string client_namespace, WorkloadOptions options);
  ~Workload();  // stops the clients

  void start();
  void stop();
  // Starts a new phase now; the first phase starts with start().
  void phase(const std::string& name);
  // Operations completed so far, and those that succeeded.
  size_t ops_done() const { return done_.load(); }
  size_t ops_ok() const { return ok_.load(); }
  // Reads every key once more with R=all (through any node that answers), records the answers as
  // the final state and returns the history's report. Timeout if a key cannot be read.
  Status verify(int timeout_ms);
  testkit::HistoryReport report() const { return history_.check(); }
  std::vector<PhaseAvailability> availability() const;
  std::vector<std::string> keys() const;
  // Writes every operation, one a line (start and end in ms since the first, client, node, key,
  // what and the answer), to `path`: the trace to read when the checker found an anomaly.
  Status write_trace(const std::string& path) const;

 private:
  struct Op {
    uint64_t start_ns;
    uint64_t end_ns;
    bool write;
    bool ok;
    int client;
    int node;
    std::string key;
    std::string what;  // "put v -> 200 @ts acks=2 by n1"
  };
  int clients() const { return options_.clients_per_node * cluster_.size(); }
  void client_loop(int client);
  void record(Op op);

  testkit::LocalCluster& cluster_;
  const std::string client_namespace_;
  const WorkloadOptions options_;
  testkit::History history_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> done_{0};
  std::atomic<size_t> ok_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;  // guards ops_ and phases_
  std::vector<Op> ops_;
  std::vector<std::pair<uint64_t, std::string>> phases_;  // start ns, name
  uint64_t end_ns_ = 0;
};

// How long after `heal_ns` each node saw every member alive through gossip, and then took a write
// with W=all (which needs its links to every other replica): per node, in ms; -1 if not within
// timeout_ms.
struct Recovery {
  std::vector<int> gossip_ms;
  std::vector<int> available_ms;
  std::string to_string() const;
  // The largest available_ms - gossip_ms over the nodes (-1 if a node never recovered).
  int worst_after_gossip_ms() const;
};
Recovery measure_recovery(testkit::LocalCluster& cluster, uint64_t heal_ns, int timeout_ms);

}  // namespace chorus::nemesis
