#include "tests/testkit/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "security/acl.h"
#include "security/cert_issuer.h"
#include "security/crypto.h"
#include "security/gossip_seal.h"
#include "tests/testkit/client.h"

namespace chorus::testkit {
namespace {

namespace fs = std::filesystem;

// Log bytes read from the end of a node log by dump_logs(); enough for kDumpLogLines long lines.
constexpr std::streamoff kDumpLogBytesMax = 256 * 1024;
// /v1/ready polling: short timeouts so one hung node does not eat the whole deadline.
constexpr int kReadyConnectTimeoutMs = 250;
constexpr int kReadyReadTimeoutMs = 1000;
constexpr int kReadyPollIntervalMs = 100;

[[noreturn]] void fail_caller_mistake(const std::string& message) {
  std::fprintf(stderr, "LocalCluster: %s\n", message.c_str());
  std::abort();
}

// Blocks taken by live LocalCluster instances of this process, and the RNG choosing them.
class BlockRegistry {
 public:
  static BlockRegistry& instance() {
    static BlockRegistry registry;
    return registry;
  }

  // Reserves a block nobody in this process holds; returns X * 256 + Y.
  int reserve(int nodes) {
    std::lock_guard<std::mutex> lock(mu_);
    std::uniform_int_distribution<int> x(kBlockFirstOctetMin, kBlockFirstOctetMax);
    std::uniform_int_distribution<int> y(0, 255);
    int block = 0;
    for (int attempt = 0; attempt < kBlockPickAttemptsMax; ++attempt) {
      block = x(rng_) * 256 + y(rng_);
      if (taken_.count(block) == 0 && ports_free(block, nodes)) break;
    }
    // After kBlockPickAttemptsMax busy blocks, take the last one anyway: start() will report
    // the bind failure in the node log rather than the constructor failing.
    taken_.insert(block);
    return block;
  }

  void release(int block) {
    std::lock_guard<std::mutex> lock(mu_);
    taken_.erase(block);
  }

 private:
  BlockRegistry() {
    auto time_ns = std::chrono::steady_clock::now().time_since_epoch().count() ^
                   std::chrono::system_clock::now().time_since_epoch().count();
    rng_.seed(static_cast<uint64_t>(getpid()) * 0x9E3779B97F4A7C15ULL ^
              static_cast<uint64_t>(time_ns));
  }

  static bool can_bind(const std::string& host, int port, int type) {
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    if (type == SOCK_STREAM) {
      int one = 1;  // ignore TIME_WAIT leftovers; a listener still makes bind fail
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1 &&
              bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    return ok;
  }

  // Another test process may hold this block; probing its ports makes a collision unlikely.
  static bool ports_free(int block, int nodes) {
    for (int i = 1; i <= nodes; ++i) {
      std::string host = "127." + std::to_string(block / 256) + "." + std::to_string(block % 256) +
                         "." + std::to_string(i);
      if (!can_bind(host, kHttpPort, SOCK_STREAM) || !can_bind(host, kPeerPort, SOCK_STREAM) ||
          !can_bind(host, kPeerPort, SOCK_DGRAM)) {
        return false;
      }
    }
    return true;
  }

  std::mutex mu_;
  std::mt19937_64 rng_;
  std::set<int> taken_;
};

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

std::string tail_lines(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "(no log at " + path + ")\n";
  std::streamoff size = in.tellg();
  std::streamoff from = size > kDumpLogBytesMax ? size - kDumpLogBytesMax : 0;
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (int n = 0; n < lines && pos != std::string::npos && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos || pos == 0 ? text : text.substr(pos + 1);
}

}  // namespace

LocalCluster::LocalCluster(ClusterOptions options) : options_(std::move(options)) {
  if (options_.nodes < 1 || options_.nodes > kMaxNodes) {
    fail_caller_mistake("nodes must be in 1.." + std::to_string(kMaxNodes));
  }
  if (options_.hosts.empty()) {
    const int block = BlockRegistry::instance().reserve(options_.nodes);
    block_x_ = block / 256;
    block_y_ = block % 256;
  } else if (static_cast<int>(options_.hosts.size()) < options_.nodes) {
    fail_caller_mistake("ClusterOptions::hosts names fewer hosts than nodes");
  }
  const char* secure = std::getenv("CHORUS_TEST_SECURE");
  if (secure != nullptr && std::string(secure) == "1") options_.secure = true;
  if (options_.secure) options_.tls = true;
  bootstrap_expect_ = options_.bootstrap_expect > 0 ? options_.bootstrap_expect : options_.nodes;
  nodes_.resize(static_cast<size_t>(options_.nodes));
  for (int i = 1; i <= options_.nodes; ++i) {
    NodeAddress& address = nodes_[static_cast<size_t>(i - 1)].address;
    address.id = "n" + std::to_string(i);
    address.host = host_of(i);
  }
}

std::string LocalCluster::host_of(int i) const {
  if (!options_.hosts.empty()) {
    if (i > static_cast<int>(options_.hosts.size())) {
      fail_caller_mistake("ClusterOptions::hosts has no host for node " + std::to_string(i));
    }
    return options_.hosts[static_cast<size_t>(i - 1)];
  }
  return "127." + std::to_string(block_x_) + "." + std::to_string(block_y_) + "." +
         std::to_string(i);
}

LocalCluster::~LocalCluster() {
  stop_all();
  if (options_.hosts.empty()) BlockRegistry::instance().release(block_x_ * 256 + block_y_);
  if (root_.empty()) return;
  if (keep_data_ || std::getenv("CHORUS_KEEP_DATA") != nullptr) {
    std::fprintf(stderr, "LocalCluster: kept data and logs in %s\n", root_.c_str());
    return;
  }
  std::error_code error;
  fs::remove_all(root_, error);
  if (error)
    std::fprintf(stderr, "LocalCluster: removing %s: %s\n", root_.c_str(), error.message().c_str());
}

Result<std::string> LocalCluster::find_chorusd() {
  const char* env = std::getenv("CHORUSD");
  if (env != nullptr && *env != '\0') {
    if (access(env, X_OK) == 0) return std::string(env);
    return Status::NotFound(std::string("CHORUSD=") + env + " is not an executable file");
  }
  std::error_code error;
  fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (error) return Status::NotFound("cannot read /proc/self/exe: " + error.message());
  for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
    fs::path candidate = dir / "src" / "chorusd";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    if (dir == dir.parent_path()) break;
  }
  return Status::NotFound("chorusd not found: set CHORUSD or build <build>/src/chorusd");
}

LocalCluster::NodeState& LocalCluster::state(int i) {
  if (i < 1 || i > size()) fail_caller_mistake("no node " + std::to_string(i));
  return nodes_[static_cast<size_t>(i - 1)];
}

const LocalCluster::NodeState& LocalCluster::state(int i) const {
  if (i < 1 || i > size()) fail_caller_mistake("no node " + std::to_string(i));
  return nodes_[static_cast<size_t>(i - 1)];
}

const NodeAddress& LocalCluster::node(int i) const {
  return state(i).address;
}

std::vector<NodeAddress> LocalCluster::nodes() const {
  std::vector<NodeAddress> out;
  for (const NodeState& node : nodes_) out.push_back(node.address);
  return out;
}

std::string LocalCluster::data_dir(int i) const {
  return root_ + "/" + node(i).id + "/data";
}

std::string LocalCluster::log_path(int i) const {
  return root_ + "/" + node(i).id + "/chorusd.log";
}

std::string LocalCluster::tls_ca() const {
  return options_.tls ? root_ + "/tls/ca.pem" : "";
}

std::string LocalCluster::tls_cert(int i) const {
  return options_.tls ? root_ + "/tls/" + node(i).id + ".pem" : "";
}

std::string LocalCluster::tls_key(int i) const {
  return options_.tls ? root_ + "/tls/" + node(i).id + "-key.pem" : "";
}

ClientOptions LocalCluster::client_options() const {
  ClientOptions options;
  options.cacert = tls_ca();
  options.token = admin_token_;
  return options;
}

std::string LocalCluster::url(int i) const {
  return (options_.tls ? "https://" : "http://") + node(i).http();
}

std::vector<std::string> LocalCluster::chorusctl_args() const {
  std::vector<std::string> args;
  if (options_.tls) args.insert(args.end(), {"--cacert", tls_ca()});
  if (options_.secure) args.insert(args.end(), {"--token", admin_token_});
  return args;
}

std::string LocalCluster::acl_file() const {
  return options_.secure ? root_ + "/secure/acl.json" : "";
}

std::string LocalCluster::gossip_key_file() const {
  return options_.secure ? root_ + "/secure/gossip.key" : "";
}

Status LocalCluster::make_secure_files() {
  std::error_code error;
  fs::create_directories(root_ + "/secure", error);
  if (error) return Status::IOError("mkdir " + root_ + "/secure: " + error.message());
  admin_token_ = security::generate_token();
  const std::string acl = R"({"tokens": [{"name": "admin", "secret_sha256": ")" +
                          security::to_hex(security::sha256(admin_token_)) +
                          R"(", "admin": true}]})";
  CHORUS_RETURN_IF_ERROR(write_file_atomically(acl_file(), acl + "\n"));
  return write_file_atomically(gossip_key_file(), security::GossipKeyring::generate_key() + "\n");
}

Status write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return Status::IOError("write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IOError("rename " + tmp + ": " + strerror(errno));
  }
  return Status::OK();
}

Status LocalCluster::make_ca() {
  std::error_code error;
  fs::create_directories(root_ + "/tls", error);
  if (error) return Status::IOError("mkdir " + root_ + "/tls: " + error.message());
  Result<security::PemPair> ca = security::make_ca("chorus-test-ca", 30);
  if (!ca.ok()) return ca.status();
  ca_ = std::move(ca).value();
  return write_file_atomically(tls_ca(), ca_.cert);
}

Result<security::PemPair> LocalCluster::issue_identity(
    const std::string& common_name, const std::vector<std::string>& hosts) const {
  if (!options_.tls) return Status::InvalidArgument("issue_identity without ClusterOptions::tls");
  return security::issue_certificate(ca_, common_name, hosts, 30);
}

Status LocalCluster::issue_certificate(int i) {
  if (!options_.tls)
    return Status::InvalidArgument("issue_certificate without ClusterOptions::tls");
  Result<security::PemPair> cert =
      security::issue_certificate(ca_, node(i).id, {node(i).id, node(i).host}, 30);
  if (!cert.ok()) return cert.status();
  CHORUS_RETURN_IF_ERROR(write_file_atomically(tls_key(i), cert->key));
  return write_file_atomically(tls_cert(i), cert->cert);
}

void LocalCluster::set_node_args(int i, std::vector<std::string> args) {
  state(i).extra_args = std::move(args);
}

Status LocalCluster::make_root() {
  char pattern[] = "/tmp/chorus-test-XXXXXX";
  if (mkdtemp(pattern) == nullptr) {
    return Status::IOError(std::string("mkdtemp /tmp/chorus-test-XXXXXX: ") + strerror(errno));
  }
  root_ = pattern;
  for (int i = 1; i <= size(); ++i) {
    std::error_code error;
    fs::create_directories(data_dir(i), error);
    if (error) return Status::IOError("mkdir " + data_dir(i) + ": " + error.message());
  }
  return Status::OK();
}

std::vector<std::string> LocalCluster::args_for(const NodeState& node) const {
  std::vector<std::string> seeds;
  for (const NodeState& other : nodes_) seeds.push_back(other.address.peer());
  int i = static_cast<int>(&node - nodes_.data()) + 1;
  // One flag and its value per line.
  // clang-format off
  std::vector<std::string> args = {
      "--id", node.address.id,
      "--http", node.address.http(),
      "--peer", node.address.peer(),
      "--data", data_dir(i),
      "--seeds", join(seeds, ","),
      "--bootstrap-expect", std::to_string(bootstrap_expect_),
      "--engine", options_.engine,
      "--replicas", std::to_string(options_.replicas),
      "--read-quorum", std::to_string(options_.read_quorum),
      "--write-quorum", std::to_string(options_.write_quorum),
      "--log-level", options_.log_level,
  };
  // clang-format on
  if (options_.tls && node.cluster_tls) {
    args.insert(args.end(),
                {"--tls-cert", tls_cert(i), "--tls-key", tls_key(i), "--tls-ca", tls_ca()});
  }
  if (options_.secure && node.cluster_tls) {
    args.insert(args.end(), {"--acl-file", acl_file(), "--gossip-key", gossip_key_file()});
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  args.insert(args.end(), node.extra_args.begin(), node.extra_args.end());
  return args;
}

Status LocalCluster::start_node(NodeState& node) {
  int i = static_cast<int>(&node - nodes_.data()) + 1;
  std::vector<std::string> args = args_for(node);
  std::string program = binary_;
  if (options_.launcher) {
    std::vector<std::string> command = options_.launcher(i);
    if (command.empty()) fail_caller_mistake("ClusterOptions::launcher returned no program");
    program = command.front();
    command.erase(command.begin());
    command.push_back(binary_);
    args.insert(args.begin(), command.begin(), command.end());
  }
  {
    // A marker per start, so dump_logs() shows where each incarnation of the node begins.
    std::ofstream log(log_path(i), std::ios::app);
    log << "=== testkit: start #" << ++node.starts << " of " << node.address.id << ": " << program
        << " " << join(args, " ") << " ===" << std::endl;
  }
  Result<std::unique_ptr<Process>> process = Process::start(program, args, log_path(i));
  if (!process.ok()) {
    return Status::IOError(node.address.id + ": " + process.status().to_string());
  }
  node.process = std::move(*process);
  node.paused = false;
  return Status::OK();
}

Status LocalCluster::start() {
  if (binary_.empty()) {
    if (!options_.binary.empty()) {
      binary_ = options_.binary;
    } else {
      Result<std::string> found = find_chorusd();
      if (!found.ok()) return found.status();
      binary_ = *found;
    }
  }
  if (root_.empty()) {
    CHORUS_RETURN_IF_ERROR(make_root());
    if (options_.secure) CHORUS_RETURN_IF_ERROR(make_secure_files());
    if (options_.tls) {
      CHORUS_RETURN_IF_ERROR(make_ca());
      for (int i = 1; i <= size(); ++i) CHORUS_RETURN_IF_ERROR(issue_certificate(i));
    }
  }
  for (NodeState& node : nodes_) {
    if (node.process != nullptr && node.process->alive()) continue;
    CHORUS_RETURN_IF_ERROR(start_node(node));
  }
  return Status::OK();
}

Result<int> LocalCluster::add_node(std::vector<std::string> extra_args, bool cluster_tls) {
  if (root_.empty()) return Status::InvalidArgument("add_node before start()");
  if (size() >= kMaxNodes) return Status::InvalidArgument("the address block is full");
  const int i = size() + 1;
  NodeState node;
  node.address.id = "n" + std::to_string(i);
  node.address.host = host_of(i);
  node.extra_args = std::move(extra_args);
  node.cluster_tls = cluster_tls;
  nodes_.push_back(std::move(node));
  std::error_code error;
  fs::create_directories(data_dir(i), error);
  if (error) return Status::IOError("creating " + data_dir(i) + ": " + error.message());
  if (options_.tls && cluster_tls) CHORUS_RETURN_IF_ERROR(issue_certificate(i));
  CHORUS_RETURN_IF_ERROR(start_node(nodes_.back()));
  return i;
}

Result<int> LocalCluster::wait_exit(int i, int timeout_ms) {
  NodeState& node = state(i);
  if (node.process == nullptr) return Status::InvalidArgument(node.address.id + " is not running");
  std::optional<int> status = node.process->wait_exit(timeout_ms);
  if (!status) return Status::Timeout(node.address.id + " did not exit");
  node.process.reset();
  return *status;
}

Status LocalCluster::wait_ready(int timeout_ms) {
  std::vector<KvClient> clients;
  ClientOptions client_options = this->client_options();
  client_options.connect_timeout_ms = kReadyConnectTimeoutMs;
  client_options.read_timeout_ms = kReadyReadTimeoutMs;
  for (const NodeState& node : nodes_) {
    clients.emplace_back(node.address.host, node.address.http_port, client_options);
  }
  std::vector<std::string> last(nodes_.size());  // why each node is not ready yet
  Status failure;
  bool ready = poll_until(
      timeout_ms,
      [&] {
        bool all_ready = true;
        for (size_t k = 0; k < nodes_.size(); ++k) {
          NodeState& node = nodes_[k];
          if (node.process == nullptr || node.paused || last[k] == "ready") {
            continue;
          }
          if (!node.process->alive()) {
            failure = Status::Unavailable(node.address.id + " exited with status " +
                                          std::to_string(node.process->exit_status().value_or(-1)) +
                                          "; log: " + log_path(static_cast<int>(k) + 1));
            return true;
          }
          JsonReply reply = clients[k].get_raw("/v1/ready");
          last[k] = reply.http_status == 200 ? "ready"
                    : reply.http_status == 0 ? reply.error
                                             : "HTTP " + std::to_string(reply.http_status);
          all_ready = all_ready && reply.http_status == 200;
        }
        return all_ready;
      },
      kReadyPollIntervalMs);
  if (!failure.ok()) return failure;
  if (ready) return Status::OK();
  std::string waiting;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    if (last[k] != "ready" && nodes_[k].process != nullptr && !nodes_[k].paused) {
      waiting += " " + nodes_[k].address.id + " (" + last[k] + ")";
    }
  }
  return Status::Timeout("not ready after " + std::to_string(timeout_ms) + " ms:" + waiting);
}

Status LocalCluster::kill(int i, int signal) {
  NodeState& node = state(i);
  if (node.process == nullptr) return Status::NotFound(node.address.id + " is not running");
  CHORUS_RETURN_IF_ERROR(node.process->kill(signal));
  if (signal == SIGSTOP) node.paused = true;
  if (signal == SIGCONT) node.paused = false;
  if (signal != SIGKILL && signal != SIGTERM) return Status::OK();
  // The node is meant to be down now: wait for it, so its ports are free when we return.
  int timeout_ms = signal == SIGKILL ? kKillReapTimeoutMs : kGracefulStopTimeoutMs;
  if (node.paused && signal == SIGTERM) {
    CHORUS_RETURN_IF_ERROR(node.process->kill(SIGCONT));  // a stopped process cannot handle TERM
  }
  if (!node.process->wait_exit(timeout_ms)) {
    return Status::Timeout(node.address.id + " still running " + std::to_string(timeout_ms) +
                           " ms after signal " + std::to_string(signal));
  }
  node.process.reset();
  node.paused = false;
  return Status::OK();
}

Status LocalCluster::stop(int i) {
  Status status = kill(i, SIGTERM);
  if (status.is_timeout()) return kill(i, SIGKILL);
  return status;
}

Status LocalCluster::restart(int i) {
  if (root_.empty() || binary_.empty()) return Status::InvalidArgument("restart before start()");
  NodeState& node = state(i);
  if (node.process != nullptr && node.process->alive()) CHORUS_RETURN_IF_ERROR(kill(i, SIGKILL));
  return start_node(node);
}

bool LocalCluster::running(int i) {
  NodeState& node = state(i);
  return node.process != nullptr && node.process->alive();
}

bool LocalCluster::paused(int i) const {
  return state(i).paused;
}

void LocalCluster::stop_all() {
  for (NodeState& node : nodes_) {
    if (node.process == nullptr) continue;
    // Either may fail only because the node already exited, which is what we want anyway.
    if (node.paused) (void)node.process->kill(SIGCONT);
    (void)node.process->kill(SIGTERM);
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kGracefulStopTimeoutMs);
  for (NodeState& node : nodes_) {
    if (node.process == nullptr) continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!node.process->wait_exit(std::max(0, static_cast<int>(left.count())))) {
      std::fprintf(stderr, "LocalCluster: %s ignored SIGTERM; sending SIGKILL\n",
                   node.address.id.c_str());
    }
    node.process.reset();  // SIGKILLs and reaps a node that is still running
    node.paused = false;
  }
}

std::string LocalCluster::dump_logs(int i, int lines) const {
  std::string text =
      root_.empty() ? std::string("(cluster never started)\n") : tail_lines(log_path(i), lines);
  std::fprintf(stderr, "----- %s: last %d lines of %s -----\n%s----- end of %s log -----\n",
               node(i).id.c_str(), lines, root_.empty() ? "" : log_path(i).c_str(), text.c_str(),
               node(i).id.c_str());
  return text;
}

void LocalCluster::dump_all_logs(int lines) const {
  for (int i = 1; i <= size(); ++i) dump_logs(i, lines);
}

}  // namespace chorus::testkit
