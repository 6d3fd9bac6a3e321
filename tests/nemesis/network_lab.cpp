#include "tests/nemesis/network_lab.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "tests/testkit/process.h"

namespace chorus::nemesis {
namespace {

namespace fs = std::filesystem;

constexpr const char* kNetnsDir = "/var/run/netns";
constexpr const char* kSubnet = "10.77.0.";
constexpr const char* kTable = "nemesis";
constexpr size_t kOutputBytesMax = 4096;  // of a failed command, in its error

std::atomic<int> next_lab{0};

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    const std::string path = std::string(dir) + "/" + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

// Namespaces "chnem-<pid>-..." of lab processes that died without cleaning up (a test killed by
// ctest's timeout): deleted, so they do not pile up run after run.
void remove_orphans(const std::string& ip) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kNetnsDir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("chnem-", 0) != 0) continue;
    const pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + 6));
    if (pid <= 0 || pid == getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    (void)run_command({ip, "netns", "delete", name});
  }
}

}  // namespace

Status run_command(const std::vector<std::string>& argv) {
  // testkit's Process runs it (its output in a scratch log), bounded by kCommandTimeoutMs.
  char log_path[] = "/tmp/chnem-command-XXXXXX";
  const int fd = mkstemp(log_path);
  if (fd < 0) return Status::IOError(std::string("mkstemp: ") + strerror(errno));
  close(fd);
  std::optional<int> exit_status;
  auto process = testkit::Process::start(argv.front(), {argv.begin() + 1, argv.end()}, log_path);
  if (process.ok()) exit_status = (*process)->wait_exit(kCommandTimeoutMs);
  std::ifstream in(log_path);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(log_path);
  if (!process.ok()) return process.status();
  if (exit_status == 0) return Status::OK();
  if (output.size() > kOutputBytesMax) output.resize(kOutputBytesMax);
  return Status::IOError(
      "`" + join(argv) + "` " +
      (exit_status ? "failed (status " + std::to_string(*exit_status) + ")"
                   : "still running after " + std::to_string(kCommandTimeoutMs) + " ms") +
      ": " + output);
}

std::string unavailable_reason() {
  if (geteuid() != 0) return "not root: network namespaces need CAP_SYS_ADMIN";
  const std::string ip = find_program("ip");
  if (ip.empty()) return "no `ip` (Debian package iproute2)";
  if (find_program("nft").empty()) return "no `nft` (Debian package nftables)";
  const std::string probe = "chnem-" + std::to_string(getpid()) + "-probe";
  Status st = run_command({ip, "netns", "add", probe});
  if (!st.ok()) return "cannot create a network namespace: " + st.to_string();
  st = run_command(
      {ip, "netns", "exec", probe, find_program("nft"), "add", "table", "inet", kTable});
  (void)run_command({ip, "netns", "delete", probe});
  if (!st.ok()) return "nftables does not work in a namespace: " + st.to_string();
  return "";
}

NetworkLab::NetworkLab(int nodes) : nodes_(nodes) {
  prefix_ = "chnem-" + std::to_string(getpid()) + "-" + std::to_string(next_lab++);
  ip_ = find_program("ip");
  nft_ = find_program("nft");
  if (nodes < 1 || nodes > kNodesMax) {
    error_ = "nodes must be in 1.." + std::to_string(kNodesMax);
    return;
  }
  if (ip_.empty() || nft_.empty()) {
    error_ = "no `ip` or `nft`";
    return;
  }
  remove_orphans(ip_);
  Status st = build();
  if (!st.ok()) error_ = st.to_string();
}

NetworkLab::~NetworkLab() {
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    Status st = run_command({ip_, "netns", "delete", *it});
    if (!st.ok()) std::fprintf(stderr, "NetworkLab: %s\n", st.to_string().c_str());
  }
}

std::string NetworkLab::host(int i) const {
  return kSubnet + std::to_string(i);
}

std::string NetworkLab::client_host() const {
  return kSubnet + std::to_string(kClientHost);
}

std::string NetworkLab::node_namespace(int i) const {
  return prefix_ + "-n" + std::to_string(i);
}

std::vector<std::string> NetworkLab::node_launcher(int i,
                                                   const std::vector<std::string>& env) const {
  std::vector<std::string> command = {ip_, "netns", "exec", node_namespace(i)};
  if (!env.empty()) {
    command.push_back("/usr/bin/env");
    command.insert(command.end(), env.begin(), env.end());
  }
  return command;
}

Status NetworkLab::build() {
  const std::string bridge_ns = prefix_ + "-br";
  CHORUS_RETURN_IF_ERROR(run_command({ip_, "netns", "add", bridge_ns}));
  made_.push_back(bridge_ns);
  CHORUS_RETURN_IF_ERROR(
      run_command({ip_, "-n", bridge_ns, "link", "add", "br0", "type", "bridge"}));
  CHORUS_RETURN_IF_ERROR(run_command({ip_, "-n", bridge_ns, "link", "set", "br0", "up"}));
  // Members: the nodes, then the client namespace.
  std::vector<std::pair<std::string, int>> members;
  for (int i = 1; i <= nodes_; ++i) members.emplace_back(node_namespace(i), i);
  members.emplace_back(client_namespace(), kClientHost);
  for (const auto& [ns, host_part] : members) {
    CHORUS_RETURN_IF_ERROR(run_command({ip_, "netns", "add", ns}));
    made_.push_back(ns);
    const std::string port = "p" + std::to_string(host_part);
    // Both ends are created inside their namespaces: no name is ever taken in the root one.
    CHORUS_RETURN_IF_ERROR(run_command({ip_, "link", "add", "eth0", "netns", ns, "type", "veth",
                                        "peer", "name", port, "netns", bridge_ns}));
    CHORUS_RETURN_IF_ERROR(
        run_command({ip_, "-n", bridge_ns, "link", "set", port, "master", "br0", "up"}));
    CHORUS_RETURN_IF_ERROR(
        run_command({ip_, "-n", ns, "addr", "add", kSubnet + std::to_string(host_part) + "/24",
                     "dev", "eth0"}));
    CHORUS_RETURN_IF_ERROR(run_command({ip_, "-n", ns, "link", "set", "eth0", "up"}));
    CHORUS_RETURN_IF_ERROR(run_command({ip_, "-n", ns, "link", "set", "lo", "up"}));
  }
  for (int i = 1; i <= nodes_; ++i) {
    const std::string ns = node_namespace(i);
    CHORUS_RETURN_IF_ERROR(
        run_command({ip_, "netns", "exec", ns, nft_, "add", "table", "inet", kTable}));
    CHORUS_RETURN_IF_ERROR(
        run_command({ip_, "netns", "exec", ns, nft_, "add", "chain", "inet", kTable, "input",
                     "{ type filter hook input priority 0; policy accept; }"}));
  }
  return Status::OK();
}

Status NetworkLab::apply_rules(int node) {
  const std::string ns = node_namespace(node);
  CHORUS_RETURN_IF_ERROR(
      run_command({ip_, "netns", "exec", ns, nft_, "flush", "chain", "inet", kTable, "input"}));
  std::string peers;
  for (const auto& [a, b] : cut_) {
    if (a == node || b == node) peers += (peers.empty() ? "" : ", ") + host(a == node ? b : a);
  }
  if (peers.empty()) return Status::OK();
  return run_command({ip_, "netns", "exec", ns, nft_, "add", "rule", "inet", kTable, "input", "ip",
                      "saddr", "{ " + peers + " }", "drop"});
}

Status NetworkLab::cut(int a, int b) {
  if (a == b || a < 1 || b < 1 || a > nodes_ || b > nodes_) {
    return Status::InvalidArgument("no link " + std::to_string(a) + "-" + std::to_string(b));
  }
  if (!cut_.insert({std::min(a, b), std::max(a, b)}).second) return Status::OK();
  CHORUS_RETURN_IF_ERROR(apply_rules(a));
  return apply_rules(b);
}

Status NetworkLab::split(const std::set<int>& side) {
  for (int a : side) {
    for (int b = 1; b <= nodes_; ++b) {
      if (side.count(b) == 0) CHORUS_RETURN_IF_ERROR(cut(a, b));
    }
  }
  return Status::OK();
}

Status NetworkLab::isolate(int i) {
  return split({i});
}

Status NetworkLab::heal() {
  std::set<int> touched;
  for (const auto& [a, b] : cut_) touched.insert({a, b});
  cut_.clear();
  for (int node : touched) CHORUS_RETURN_IF_ERROR(apply_rules(node));
  return Status::OK();
}

NamespaceScope::NamespaceScope(const std::string& name) {
  previous_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (previous_fd_ < 0) {
    error_ = std::string("open /proc/thread-self/ns/net: ") + strerror(errno);
    return;
  }
  const std::string path = std::string(kNetnsDir) + "/" + name;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error_ = "open " + path + ": " + strerror(errno);
    return;
  }
  if (setns(fd, CLONE_NEWNET) != 0) error_ = "setns " + path + ": " + strerror(errno);
  close(fd);
}

NamespaceScope::~NamespaceScope() {
  if (previous_fd_ < 0) return;
  if (setns(previous_fd_, CLONE_NEWNET) != 0) {
    // A thread left in a lab namespace would send its later traffic there: never carry on.
    std::fprintf(stderr, "NamespaceScope: cannot return to the previous namespace: %s\n",
                 strerror(errno));
    std::abort();
  }
  close(previous_fd_);
}

}  // namespace chorus::nemesis
