// NetworkLab: a private network of Linux network namespaces for the nemesis tests (DESIGN §9.3):
// one namespace per node, one for the test's clients, and one holding a bridge that joins them,
// each member on a veth pair. Nothing here is reachable from the root namespace, and the root
// namespace never sends to it: the test's client threads enter the client namespace
// (ClientNamespace) before they open a socket, and nodes are started inside their own namespace
// by `ip netns exec` (node_launcher()).
//
// Addressing: member k of the lab is 10.77.0.k/24 (nodes 1..nodes, the client kClientHost).
// Namespaces are separate networks, so two labs in two test processes may use the same
// addresses; their namespace names carry the pid and a counter, so they never collide.
//
// Faults between nodes are nftables rules in the receiving node's namespace (`ip saddr X drop` on
// input): a cut link loses packets silently, both ways, as a failed switch port does, and the
// sender's TCP retransmits into the void. Client traffic is never cut: clients keep talking to
// the node they chose, which answers from its side of the partition.
//
// Lifetime: the constructor builds everything (and first deletes namespaces left by lab
// processes that no longer run); the destructor deletes every namespace it made, which also
// removes the veths and rules. Nodes inside must be stopped first (declare the LocalCluster after
// the lab). Errors while building make ok() false with the reason in error(); the test then fails.
//
// Thread-safety: one thread drives a lab (cut/heal); ClientNamespace may be used from any thread.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace chorus::nemesis {

inline constexpr int kNodesMax = 16;
// The client namespace's host part; nodes take 1..kNodesMax.
inline constexpr int kClientHost = 200;
static_assert(kNodesMax < kClientHost, "node and client addresses must not overlap");

// Why this machine cannot run the nemesis tests (not root, no `ip` or `nft`, namespaces refused),
// or empty when it can.
std::string unavailable_reason();

// How long one `ip`/`nft` command may take.
inline constexpr int kCommandTimeoutMs = 10'000;

// Runs a program to completion (argv[0] is a path: no PATH search), with stdout+stderr captured;
// non-OK with the output when it exits non-zero or is still running after kCommandTimeoutMs.
Status run_command(const std::vector<std::string>& argv);

class NetworkLab {
 public:
  explicit NetworkLab(int nodes);
  ~NetworkLab();
  NetworkLab(const NetworkLab&) = delete;
  NetworkLab& operator=(const NetworkLab&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  int nodes() const { return nodes_; }
  std::string host(int i) const;  // node i's address, 10.77.0.i
  std::string client_host() const;
  std::string node_namespace(int i) const;
  std::string client_namespace() const { return prefix_ + "-cl"; }
  // The command that starts a program inside node i's namespace (for ClusterOptions::launcher).
  // `env` are NAME=VALUE pairs set for the program (e.g. LD_PRELOAD for a faked clock).
  std::vector<std::string> node_launcher(int i, const std::vector<std::string>& env = {}) const;

  // Cuts the link between nodes a and b both ways (no-op if already cut).
  Status cut(int a, int b);
  // Cuts every link between a node of `side` and a node outside it.
  Status split(const std::set<int>& side);
  // Cuts every link of node i.
  Status isolate(int i);
  // Restores every link.
  Status heal();
  const std::set<std::pair<int, int>>& cut_links() const { return cut_; }

 private:
  Status build();
  Status apply_rules(int node);  // rewrites node's input chain from cut_

  int nodes_ = 0;
  std::string prefix_;                 // "chnem-<pid>-<seq>"
  std::string ip_;                     // path of `ip`
  std::string nft_;                    // path of `nft`
  std::vector<std::string> made_;      // namespaces created, deleted by the destructor
  std::set<std::pair<int, int>> cut_;  // (a, b) with a < b
  std::string error_;
};

// Enters a network namespace for the calling thread and returns to the thread's previous one on
// destruction. Sockets opened meanwhile belong to that namespace for their whole life.
class NamespaceScope {
 public:
  explicit NamespaceScope(const std::string& name);
  ~NamespaceScope();
  NamespaceScope(const NamespaceScope&) = delete;
  NamespaceScope& operator=(const NamespaceScope&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  int previous_fd_ = -1;
  std::string error_;
};

}  // namespace chorus::nemesis
