#include "tests/nemesis/harness.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "tests/testkit/client.h"

namespace chorus::nemesis {
namespace {

namespace fs = std::filesystem;
using testkit::KvClient;
using testkit::now_ns;

constexpr int kRecoveryPollIntervalMs = 20;
constexpr size_t kFillChunkBytes = 1 << 20;

int ms_since(uint64_t start_ns) {
  return static_cast<int>((now_ns() - start_ns) / 1'000'000);
}

std::string own_key(int client, int k) {
  return "c" + std::to_string(client) + "-" + std::to_string(k);
}

std::string shared_key(int k) {
  return "shared-" + std::to_string(k);
}

bool secure_from_environment() {
  const char* secure = std::getenv("CHORUS_TEST_SECURE");
  return secure != nullptr && std::string(secure) == "1";
}

}  // namespace

Harness::Harness(HarnessOptions options) : options_(std::move(options)), lab_(options_.nodes) {
  if (!lab_.ok()) return;
  in_lab_ = std::make_unique<NamespaceScope>(lab_.client_namespace());
  testkit::ClusterOptions cluster_options;
  cluster_options.nodes = options_.nodes;
  for (int i = 1; i <= options_.nodes; ++i) cluster_options.hosts.push_back(lab_.host(i));
  cluster_options.extra_args = options_.extra_args;
  if (options_.small_disk_node > 0) {
    cluster_options.extra_args.insert(
        cluster_options.extra_args.end(),
        {"--disk-reserve-bytes", std::to_string(options_.small_disk_reserve_bytes)});
  }
  // The lab's addresses are not loopback: plain HTTP there needs --insecure (the lab is private).
  if (!secure_from_environment()) cluster_options.extra_args.push_back("--insecure");
  cluster_options.launcher = [this](int i) {
    std::vector<std::string> env;
    if (options_.fake_clocks) {
      // The clock file must exist before the node reads it: a missing file means no offset to
      // libfaketime, but make that explicit.
      if (access(clock_file(i).c_str(), F_OK) != 0) {
        (void)testkit::write_file_atomically(clock_file(i), "+0\n");
      }
      env = {std::string("LD_PRELOAD=") + kFaketimeLibrary,
             "FAKETIME_TIMESTAMP_FILE=" + clock_file(i), "FAKETIME_DONT_FAKE_MONOTONIC=1",
             "FAKETIME_CACHE_DURATION=1"};
    }
    return lab_.node_launcher(i, env);
  };
  cluster_ = std::make_unique<testkit::LocalCluster>(std::move(cluster_options));
}

Harness::~Harness() {
  if (cluster_ != nullptr) cluster_->stop_all();
  if (!mounted_.empty() && umount2(mounted_.c_str(), MNT_DETACH) != 0) {
    std::fprintf(stderr, "Harness: umount %s: %s\n", mounted_.c_str(), strerror(errno));
  }
  cluster_.reset();  // removes the data root
  in_lab_.reset();   // back to the namespace the test started in, before the lab goes
}

std::string Harness::clock_file(int i) const {
  return cluster_->data_root() + "/clock-n" + std::to_string(i);
}

Status Harness::start() {
  if (!lab_.ok()) return Status::Unavailable("network lab: " + lab_.error());
  if (!in_lab_->ok()) return Status::Unavailable("entering the lab: " + in_lab_->error());
  if (options_.fake_clocks && access(kFaketimeLibrary, R_OK) != 0) {
    return Status::Unavailable(std::string("no ") + kFaketimeLibrary +
                               " (Debian package faketime)");
  }
  CHORUS_RETURN_IF_ERROR(cluster_->start());
  CHORUS_RETURN_IF_ERROR(cluster_->wait_ready(kReadyTimeoutMs));
  if (options_.small_disk_node > 0) {
    CHORUS_RETURN_IF_ERROR(mount_small_disk());
    CHORUS_RETURN_IF_ERROR(cluster_->wait_ready(kReadyTimeoutMs));
  }
  return Status::OK();
}

// The node is stopped, its data moved onto a fresh tmpfs at the same path, and started again: it
// keeps its identity and data, on a disk that can fill up.
Status Harness::mount_small_disk() {
  const int k = options_.small_disk_node;
  CHORUS_RETURN_IF_ERROR(cluster_->stop(k));
  const std::string dir = cluster_->data_dir(k);
  const std::string moved = dir + ".before-tmpfs";
  std::error_code error;
  fs::rename(dir, moved, error);
  if (!error) fs::create_directory(dir, error);
  if (error) return Status::IOError("preparing " + dir + ": " + error.message());
  const std::string size = "size=" + std::to_string(options_.small_disk_bytes);
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, size.c_str()) != 0) {
    return Status::IOError("mount tmpfs on " + dir + ": " + strerror(errno));
  }
  mounted_ = dir;
  fs::copy(moved, dir, fs::copy_options::recursive, error);
  if (!error) fs::remove_all(moved, error);
  if (error) return Status::IOError("copying " + moved + " to the tmpfs: " + error.message());
  return cluster_->restart(k);
}

Status Harness::set_clock_offset(int i, int offset_s) {
  if (!options_.fake_clocks) return Status::InvalidArgument("clock offsets need fake_clocks");
  return testkit::write_file_atomically(
      clock_file(i), (offset_s >= 0 ? "+" : "") + std::to_string(offset_s) + "\n");
}

Status Harness::fill_disk() {
  if (mounted_.empty()) return Status::InvalidArgument("no small disk");
  const std::string path = mounted_ + "/nemesis-filler";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("open " + path + ": " + strerror(errno));
  const std::vector<char> chunk(kFillChunkBytes, 'x');
  // Full chunks, then single pages, until the file system refuses a byte more.
  for (size_t size = kFillChunkBytes; size >= 4096; size /= 16) {
    while (write(fd, chunk.data(), size) == static_cast<ssize_t>(size)) {
    }
  }
  const int write_errno = errno;
  close(fd);
  if (write_errno != ENOSPC) {
    return Status::IOError("filling " + path + " stopped with: " + strerror(write_errno));
  }
  return Status::OK();
}

Status Harness::free_disk() {
  if (mounted_.empty()) return Status::InvalidArgument("no small disk");
  const std::string path = mounted_ + "/nemesis-filler";
  if (unlink(path.c_str()) != 0) return Status::IOError("unlink " + path + ": " + strerror(errno));
  return Status::OK();
}

int Harness::raft_leader(int via) {
  KvClient client(cluster_->node(via).host, cluster_->node(via).http_port,
                  cluster_->client_options());
  testkit::JsonReply reply = client.get_json("/v1/cluster");
  if (reply.http_status != 200 || !reply.json.contains("raft")) return 0;
  const nlohmann::json& leader = reply.json["raft"]["leader"];
  if (!leader.is_string()) return 0;
  for (int i = 1; i <= nodes(); ++i) {
    if (cluster_->node(i).id == leader.get<std::string>()) return i;
  }
  return 0;
}

std::string PhaseAvailability::to_string() const {
  std::ostringstream out;
  auto percent = [](size_t ok, size_t all) {
    return all == 0 ? std::string("-") : std::to_string(ok * 100 / all) + "%";
  };
  out << name << " (" << static_cast<int>(seconds * 10) / 10.0 << " s): writes " << writes_ok << "/"
      << writes << " ok (" << percent(writes_ok, writes) << "), reads " << reads_ok << "/" << reads
      << " ok (" << percent(reads_ok, reads) << "); through";
  for (size_t k = 0; k < by_node.size(); ++k) {
    out << " n" << k + 1 << " " << percent(by_node[k].first, by_node[k].second) << " of "
        << by_node[k].second;
  }
  return out.str();
}

Workload::Workload(testkit::LocalCluster& cluster, std::string client_namespace,
                   WorkloadOptions options)
    : cluster_(cluster), client_namespace_(std::move(client_namespace)), options_(options) {}

Workload::~Workload() {
  stop();
}

void Workload::start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    phases_.emplace_back(now_ns(), "before");
  }
  for (int c = 0; c < clients(); ++c) threads_.emplace_back(&Workload::client_loop, this, c);
}

void Workload::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  if (end_ns_ == 0) end_ns_ = now_ns();
}

void Workload::phase(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  phases_.emplace_back(now_ns(), name);
}

void Workload::record(Op op) {
  const bool ok = op.ok;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ops_.push_back(std::move(op));
  }
  ++done_;
  if (ok) ++ok_;
}

Status Workload::write_trace(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  const uint64_t origin = phases_.empty() ? 0 : phases_.front().first;
  auto ms = [origin](uint64_t ns) { return std::to_string((ns - origin) / 1000 / 1000.0); };
  for (const auto& [start, name] : phases_) out << ms(start) << " phase " << name << "\n";
  for (const Op& op : ops_) {
    out << ms(op.start_ns) << ".." << ms(op.end_ns) << " c" << op.client << " via n" << op.node
        << " " << op.key << " " << op.what << "\n";
  }
  return testkit::write_file_atomically(path, out.str());
}

void Workload::client_loop(int client) {
  NamespaceScope in_lab(client_namespace_);
  if (!in_lab.ok()) {
    std::fprintf(stderr, "Workload: client %d: %s\n", client, in_lab.error().c_str());
    return;
  }
  std::mt19937 rng(options_.seed * 1000 + static_cast<uint32_t>(client));
  testkit::ClientOptions client_options = cluster_.client_options();
  client_options.read_timeout_ms = kClientReadTimeoutMs;
  std::vector<KvClient> nodes;
  for (int i = 1; i <= cluster_.size(); ++i) {
    nodes.emplace_back(cluster_.node(i).host, cluster_.node(i).http_port, client_options);
  }
  for (int op = 0; !stop_.load(); ++op) {
    const std::string key =
        rng() % 2 == 0 ? shared_key(static_cast<int>(rng() % options_.shared_keys))
                       : own_key(client, static_cast<int>(rng() % options_.own_keys_per_client));
    const size_t node_index = static_cast<size_t>(client) % nodes.size();
    KvClient& node = nodes[node_index];
    const uint64_t start = now_ns();
    const uint32_t dice = rng() % 20;
    Op trace{start, 0, true, false, client, static_cast<int>(node_index) + 1, key, ""};
    auto write_answer = [](const testkit::WriteReply& w) {
      return std::to_string(w.http_status) + " @" + std::to_string(w.timestamp) +
             " acks=" + std::to_string(w.acks) + " by " + w.node + (w.ok() ? "" : " " + w.error);
    };
    if (dice < 9) {
      const std::string value = "c" + std::to_string(client) + "-op" + std::to_string(op);
      const testkit::WriteReply w = node.put(key, value, "quorum");
      trace.end_ns = now_ns();
      history_.write(key, value, start, trace.end_ns, testkit::to_write_outcome(w));
      trace.ok = w.ok();
      trace.what = "put " + value + " -> " + write_answer(w);
    } else if (dice < 11) {
      const testkit::WriteReply d = node.del(key, "quorum");
      trace.end_ns = now_ns();
      history_.del(key, start, trace.end_ns, testkit::to_write_outcome(d));
      trace.ok = d.ok();
      trace.what = "delete -> " + write_answer(d);
    } else {
      const testkit::ReadReply r = node.get(key, "quorum");
      trace.end_ns = now_ns();
      history_.read(key, start, trace.end_ns, testkit::to_read_outcome(r));
      trace.write = false;
      trace.ok = r.ok() || r.not_found();
      trace.what = "get -> " + std::to_string(r.http_status) + " " + r.value.value_or("") + " @" +
                   std::to_string(r.timestamp);
    }
    record(std::move(trace));
  }
}

std::vector<std::string> Workload::keys() const {
  std::vector<std::string> keys;
  for (int k = 0; k < options_.shared_keys; ++k) keys.push_back(shared_key(k));
  for (int c = 0; c < clients(); ++c) {
    for (int k = 0; k < options_.own_keys_per_client; ++k) keys.push_back(own_key(c, k));
  }
  return keys;
}

Status Workload::verify(int timeout_ms) {
  std::vector<KvClient> nodes;
  for (int i = 1; i <= cluster_.size(); ++i) {
    nodes.emplace_back(cluster_.node(i).host, cluster_.node(i).http_port,
                       cluster_.client_options());
  }
  for (const std::string& key : keys()) {
    testkit::ReadReply r;
    size_t attempt = 0;
    const bool read = testkit::poll_until(timeout_ms, [&] {
      r = nodes[attempt++ % nodes.size()].get(key, "all");
      return r.ok() || r.not_found();
    });
    if (!read) {
      return Status::Timeout("final read of " + key + " with R=all: HTTP " +
                             std::to_string(r.http_status) + " " + r.error);
    }
    history_.record_final(key, r.value.value_or(""), r.timestamp, r.ok());
  }
  return Status::OK();
}

std::vector<PhaseAvailability> Workload::availability() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PhaseAvailability> out;
  const uint64_t end = end_ns_ != 0 ? end_ns_ : now_ns();
  for (size_t p = 0; p < phases_.size(); ++p) {
    PhaseAvailability a;
    a.name = phases_[p].second;
    const uint64_t to = p + 1 < phases_.size() ? phases_[p + 1].first : end;
    a.seconds = static_cast<double>(to - phases_[p].first) / 1e9;
    a.by_node.assign(static_cast<size_t>(cluster_.size()), {0, 0});
    out.push_back(a);
  }
  for (const Op& op : ops_) {
    // The phase whose start is the last one at or before the operation's start.
    auto it = std::upper_bound(phases_.begin(), phases_.end(), op.start_ns,
                               [](uint64_t t, const auto& phase) { return t < phase.first; });
    if (it == phases_.begin()) continue;
    PhaseAvailability& a = out[static_cast<size_t>(it - phases_.begin() - 1)];
    (op.write ? a.writes : a.reads) += 1;
    if (op.ok) (op.write ? a.writes_ok : a.reads_ok) += 1;
    auto& [node_ok, node_all] = a.by_node[static_cast<size_t>(op.node - 1)];
    ++node_all;
    if (op.ok) ++node_ok;
  }
  return out;
}

std::string Recovery::to_string() const {
  std::ostringstream out;
  for (size_t k = 0; k < gossip_ms.size(); ++k) {
    out << (k == 0 ? "" : ", ") << "n" << k + 1 << " gossip " << gossip_ms[k] << " ms, W=all "
        << available_ms[k] << " ms";
  }
  return out.str();
}

int Recovery::worst_after_gossip_ms() const {
  int worst = 0;
  for (size_t k = 0; k < gossip_ms.size(); ++k) {
    if (gossip_ms[k] < 0 || available_ms[k] < 0) return -1;
    worst = std::max(worst, available_ms[k] - gossip_ms[k]);
  }
  return worst;
}

Recovery measure_recovery(testkit::LocalCluster& cluster, uint64_t heal_ns, int timeout_ms) {
  const size_t n = static_cast<size_t>(cluster.size());
  Recovery recovery;
  recovery.gossip_ms.assign(n, -1);
  recovery.available_ms.assign(n, -1);
  std::vector<KvClient> nodes;
  testkit::ClientOptions options = cluster.client_options();
  options.read_timeout_ms = kClientReadTimeoutMs;
  for (size_t k = 0; k < n; ++k) {
    const int i = static_cast<int>(k) + 1;
    nodes.emplace_back(cluster.node(i).host, cluster.node(i).http_port, options);
  }
  int probe = 0;
  (void)testkit::poll_until(
      timeout_ms,
      [&] {
        bool done = true;
        for (size_t k = 0; k < n; ++k) {
          if (recovery.gossip_ms[k] < 0) {
            testkit::JsonReply c = nodes[k].get_json("/v1/cluster");
            bool all_alive =
                c.http_status == 200 && c.json.contains("members") && c.json["members"].size() == n;
            if (all_alive) {
              for (const auto& m : c.json["members"])
                all_alive = all_alive && m.value("gossip", "") == "alive";
            }
            if (all_alive) recovery.gossip_ms[k] = ms_since(heal_ns);
          }
          if (recovery.gossip_ms[k] >= 0 && recovery.available_ms[k] < 0) {
            const testkit::WriteReply w = nodes[k].put("nemesis-probe-n" + std::to_string(k + 1),
                                                       std::to_string(++probe), "all");
            if (w.ok()) recovery.available_ms[k] = ms_since(heal_ns);
          }
          done = done && recovery.available_ms[k] >= 0;
        }
        return done;
      },
      kRecoveryPollIntervalMs);
  return recovery;
}

}  // namespace chorus::nemesis
