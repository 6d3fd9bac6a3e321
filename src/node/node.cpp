#include "node/node.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <regex>
#include <thread>

#include "antientropy/service.h"
#include "api/http_server.h"
#include "api/kv_api.h"
#include "core/address.h"
#include "core/clock.h"
#include "core/hlc.h"
#include "core/limits.h"
#include "core/metrics.h"
#include "core/rpc_methods.h"
#include "engines/store.h"
#include "membership/cluster_membership.h"
#include "net/transport.h"
#include "node/node_service.h"
#include "replication/coordinator.h"
#include "replication/hint_delivery.h"
#include "replication/hints.h"
#include "replication/partition_stream.h"
#include "replication/replica.h"
#include "ring/partitioner.h"
#include "ring/ring.h"
#include "security/acl.h"
#include "security/crypto.h"
#include "security/gossip_seal.h"
#include "security/tls.h"

namespace chorus {

namespace asio = boost::asio;

Status validate(const NodeOptions& o) {
  static const std::regex kIdPattern("[A-Za-z0-9._-]+");
  if (o.id.empty() || o.id.size() > kNodeIdBytesMax || !std::regex_match(o.id, kIdPattern)) {
    return Status::InvalidArgument("--id must be 1.." + std::to_string(kNodeIdBytesMax) +
                                   " characters of [A-Za-z0-9._-]");
  }
  if (o.replicas < 1 || o.replicas > kReplicasMax) {
    return Status::InvalidArgument("--replicas must be 1.." + std::to_string(kReplicasMax));
  }
  if (o.read_quorum < 1 || o.read_quorum > o.replicas || o.write_quorum < 1 ||
      o.write_quorum > o.replicas) {
    return Status::InvalidArgument("--read-quorum and --write-quorum must be 1..--replicas");
  }
  if (!is_valid_partition_count(o.partitions)) {
    return Status::InvalidArgument("--partitions must be a power of two up to " +
                                   std::to_string(kPartitionsMax));
  }
  if (o.bootstrap_expect < 1) return Status::InvalidArgument("--bootstrap-expect must be >= 1");
  if (o.max_value_bytes < 1 || o.max_value_bytes > kValueBytesMaxLimit) {
    return Status::InvalidArgument("--max-value-bytes must be 1.." +
                                   std::to_string(kValueBytesMaxLimit));
  }
  if (o.threads < 0 || o.threads > 256) return Status::InvalidArgument("--threads must be 0..256");
  if (o.epoch_interval_s < 1 || o.epoch_interval_s > 86400) {
    return Status::InvalidArgument("--epoch-interval-s must be 1..86400");
  }
  if (o.stream_bytes_per_s < 4096) {
    return Status::InvalidArgument("--stream-bytes-per-s must be >= 4096");
  }
  if (o.aae_max_bytes_per_s < 4096) {
    return Status::InvalidArgument("--aae-max-bytes-per-s must be >= 4096");
  }
  if (o.aae_max_exchanges < 1 || o.aae_max_exchanges > 64) {
    return Status::InvalidArgument("--aae-max-exchanges must be 1..64");
  }
  if (o.aae_full_sweep_interval_s < 1) {
    return Status::InvalidArgument("--aae-full-sweep-interval-s must be >= 1");
  }
  if (o.aae_leaves < 1 || o.aae_leaves > kMerkleLeavesMax || (o.aae_leaves & (o.aae_leaves - 1))) {
    return Status::InvalidArgument("--aae-leaves must be a power of two in 1.." +
                                   std::to_string(kMerkleLeavesMax));
  }
  if (o.request_timeout_ms < 10)
    return Status::InvalidArgument("--request-timeout-ms must be >= 10");
  if (o.security_reload_check_s > 3600) {
    return Status::InvalidArgument("--security-reload-check-s must be 0..3600");
  }
  const bool secured = !o.tls_cert.empty() && !o.acl_file.empty() && !o.gossip_key.empty();
  for (const auto& [flag, address] :
       {std::pair{"--http", &o.http_address}, std::pair{"--peer", &o.peer_address}}) {
    if (!o.insecure && !secured && !is_loopback_address(*address)) {
      return Status::InvalidArgument(
          std::string("protected mode: ") + flag + " " + *address +
          " is not a loopback address, so TLS (--tls-cert/--tls-key/--tls-ca), --acl-file and "
          "--gossip-key must all be set (README, Security), or --insecure given");
    }
  }
  return Status::OK();
}

bool is_loopback_address(const std::string& host_port) {
  std::string host;
  uint16_t port = 0;
  if (!parse_host_port(host_port, &host, &port).ok()) return false;
  if (host == "localhost") return true;
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

namespace {

// A digest of every file's path and contents; a file that cannot be read counts as empty (the
// reload then says what is wrong with it). Security files are small; the bound keeps a wrong path
// (a device, a huge file) cheap.
security::Sha256 hash_files(const std::vector<std::string>& paths) {
  std::string all;
  for (const std::string& path : paths) {
    Result<std::string> contents = security::read_small_file(path, 1u << 20);
    all += path;
    all += '\0';
    all += std::to_string(contents.ok() ? contents->size() : 0);
    all += '\0';
    if (contents.ok()) all += *contents;
  }
  return security::sha256(all);
}

std::vector<std::string> security_files(const NodeOptions& o) {
  std::vector<std::string> out;
  for (const std::string* f : {&o.acl_file, &o.gossip_key, &o.tls_cert, &o.tls_key, &o.tls_ca}) {
    if (!f->empty()) out.push_back(*f);
  }
  return out;
}

}  // namespace

struct Node::Parts {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  asio::signal_set reload_signals{io, SIGHUP};
  asio::steady_timer reload_check_timer{io};
  // A hash of the security files' contents as last loaded (or tried), so a change is reloaded
  // once and a broken file is reported once, not at every check.
  security::Sha256 security_files_hash{};
  asio::steady_timer drain_timer{io};
  SystemClock clock;
  HlcClock hlc{&clock};
  MetricsRegistry metrics;
  std::unique_ptr<security::AclFile> acl;                 // null without --acl-file
  std::shared_ptr<security::GossipSealer> gossip_sealer;  // null without --gossip-key
  std::shared_ptr<security::TlsCredentials> tls;          // null without --tls-*
  Counter* reloads_ok = nullptr;
  Counter* reloads_failed = nullptr;
  std::unique_ptr<Store> store;
  std::unique_ptr<HintStore> hints;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<ClusterMembership> membership;
  std::unique_ptr<StreamService> stream_service;
  std::unique_ptr<PartitionStreamer> streamer;
  std::unique_ptr<AntiEntropyService> repair;
  std::unique_ptr<ReplicaService> replica;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<HintDelivery> delivery;
  std::unique_ptr<NodeService> service;
  std::unique_ptr<KvApi> api;
  std::unique_ptr<HttpServer> http;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
};

Node::Node(NodeOptions options) : options_(std::move(options)), parts_(std::make_unique<Parts>()) {}

Node::~Node() {
  stop();
  for (auto& t : parts_->threads) {
    if (t.joinable()) t.join();
  }
}

namespace {

Status make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::IOError("cannot create directory " + path + ": " + std::strerror(errno));
  }
  return Status::OK();
}

Result<std::unique_ptr<Engine>> open_in(const NodeOptions& o, const std::string& sub) {
  const std::string path = o.data_dir + "/" + sub;
  CHORUS_RETURN_IF_ERROR(make_dir(path));
  EngineOptions engine_options;
  engine_options.disk_reserve_bytes = o.disk_reserve_bytes;
  if (sub == "hints") engine_options.block_cache_bytes = 8 << 20;
  return open_engine(o.engine, path, engine_options);
}

std::string departed_marker(const std::string& data_dir) {
  return data_dir + "/DEPARTED";
}

// Durable before the process exits: the marker is what keeps a restart from rejoining.
Status mark_departed(const std::string& data_dir) {
  const std::string path = departed_marker(data_dir);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("cannot create " + path + ": " + std::strerror(errno));
  static constexpr char kText[] = "this node left its cluster\n";
  const bool ok = ::write(fd, kText, sizeof(kText) - 1) == sizeof(kText) - 1 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::IOError("cannot write " + path + ": " + std::strerror(errno));
  const int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::OK();
}

}  // namespace

// Wiring only: each step below opens one layer on the ones before it.
Status Node::start() {
  CHORUS_RETURN_IF_ERROR(validate(options_));
  CHORUS_RETURN_IF_ERROR(open_security());
  CHORUS_RETURN_IF_ERROR(open_storage());
  CHORUS_RETURN_IF_ERROR(open_cluster());
  CHORUS_RETURN_IF_ERROR(serve_peers());
  CHORUS_RETURN_IF_ERROR(start_replication());
  CHORUS_RETURN_IF_ERROR(serve_clients());
  start_threads();
  return Status::OK();
}

Status Node::open_storage() {
  Parts& p = *parts_;
  CHORUS_RETURN_IF_ERROR(make_dir(options_.data_dir));
  if (::access(departed_marker(options_.data_dir).c_str(), F_OK) == 0) {
    return Status::InvalidArgument(
        "this node left its cluster (decommissioned or removed) and handed its data over; it "
        "does not join again with that data. Remove " +
        options_.data_dir + " to start it as a new node");
  }
  auto store_engine = open_in(options_, "store");
  if (!store_engine.ok()) return store_engine.status();
  p.store = std::make_unique<Store>(std::move(store_engine).value(), &p.clock);
  auto hint_engine = open_in(options_, "hints");
  if (!hint_engine.ok()) return hint_engine.status();
  HintOptions hint_options;
  hint_options.enabled = options_.hints_enabled;
  p.hints = std::make_unique<HintStore>(std::move(hint_engine).value(), &p.clock, hint_options,
                                        &p.metrics);
  CHORUS_RETURN_IF_ERROR(p.hints->open());

  return Status::OK();
}

Status Node::open_cluster() {
  Parts& p = *parts_;
  p.transport = std::make_unique<Transport>(p.io, TransportOptions{}, &p.metrics);
  p.replica = std::make_unique<ReplicaService>(p.store.get(), p.hints.get(), &p.hlc, &p.metrics);
  p.replica->set_partitions(options_.partitions);

  ClusterMembershipOptions membership_options;
  membership_options.self = Member{options_.id, options_.peer_address, options_.http_address};
  membership_options.seeds = options_.seeds;
  membership_options.bootstrap_expect = options_.bootstrap_expect;
  membership_options.partitions = options_.partitions;
  membership_options.replicas = options_.replicas;
  membership_options.data_dir = options_.data_dir;
  membership_options.epoch_interval_s = options_.epoch_interval_s;
  membership_options.gossip.sealer = p.gossip_sealer;
  p.membership = std::make_unique<ClusterMembership>(p.io, p.transport.get(), &p.clock,
                                                     membership_options, &p.metrics);
  p.stream_service = std::make_unique<StreamService>(p.store.get(), &p.metrics);
  p.replica->set_ring_epoch_source([&p] {
    auto view = p.membership->view();
    return view->metadata ? view->metadata->ring_epoch() : uint64_t{0};
  });

  if (options_.aae_enabled) {
    AntiEntropyOptions aae;
    aae.self_id = options_.id;
    aae.partitions = options_.partitions;
    aae.leaves = options_.aae_leaves;
    aae.max_bytes_per_s = options_.aae_max_bytes_per_s;
    aae.exchanges_max = options_.aae_max_exchanges;
    aae.full_sweep_interval_s = options_.aae_full_sweep_interval_s;
    aae.settle_ms = options_.request_timeout_ms + 500;
    aae.tombstone_grace_s = options_.tombstone_grace_s;
    p.repair = std::make_unique<AntiEntropyService>(p.io, p.membership.get(), p.transport.get(),
                                                    p.store.get(), &p.clock, aae, &p.metrics);
    // Before any write can arrive: the ledger must see every late write.
    CHORUS_RETURN_IF_ERROR(p.repair->open());
  }

  return Status::OK();
}

Status Node::serve_peers() {
  Parts& p = *parts_;
  if (p.tls) {
    TransportTls tls;
    tls.server = [tls = p.tls] { return tls->peer_server(); };
    tls.client = [tls = p.tls] { return tls->peer_client(); };
    p.transport->set_tls(std::move(tls));
  }
  p.transport->set_handler(
      [&p](const std::string& caller, uint16_t method, std::string payload, Responder respond) {
        const auto rpc = static_cast<RpcMethod>(method);
        if (rpc == RpcMethod::kRaftMessage || rpc == RpcMethod::kMetaRequest ||
            rpc == RpcMethod::kClusterProbe) {
          return p.membership->handle_rpc(caller, method, std::move(payload), std::move(respond));
        }
        // Replica, stream and repair traffic only from members (DESIGN.md §10).
        if (Status admitted = p.membership->admit_peer(caller); !admitted.ok()) {
          return respond(std::move(admitted), {});
        }
        switch (rpc) {
          case RpcMethod::kRaftMessage:
          case RpcMethod::kMetaRequest:
          case RpcMethod::kClusterProbe:
            break;  // answered above
          case RpcMethod::kStreamPartition:
            return p.stream_service->handle(std::move(payload), respond);
          case RpcMethod::kReplicaWrite:
            return p.replica->handle_write(std::move(payload), respond);
          case RpcMethod::kReplicaRead:
            return p.replica->handle_read(std::move(payload), respond);
          case RpcMethod::kAntiEntropy:
            if (p.repair) return p.repair->handle(std::move(payload), respond);
            return respond(Status::Unavailable("anti-entropy is disabled on this node"), {});
          case RpcMethod::kHello:  // retired with static membership
            break;
        }
        respond(Status::InvalidArgument("unknown method " + std::to_string(method)), {});
      });
  CHORUS_RETURN_IF_ERROR(p.transport->listen(options_.peer_address));

  return Status::OK();
}

Status Node::start_replication() {
  Parts& p = *parts_;
  CoordinatorOptions coordinator_options;
  coordinator_options.self_id = options_.id;
  coordinator_options.read_quorum_default = options_.read_quorum;
  coordinator_options.write_quorum_default = options_.write_quorum;
  coordinator_options.request_timeout_ms = options_.request_timeout_ms;
  p.coordinator = std::make_unique<Coordinator>(p.io, p.membership.get(), p.transport.get(),
                                                p.replica.get(), p.hints.get(), &p.hlc, &p.clock,
                                                coordinator_options, &p.metrics);
  HintDeliveryOptions delivery_options;
  delivery_options.self_id = options_.id;
  delivery_options.hints_per_second_max = options_.hints_per_second_max;
  p.delivery = std::make_unique<HintDelivery>(p.io, p.membership.get(), p.transport.get(),
                                              p.hints.get(), p.replica.get(), &p.hlc, &p.clock,
                                              delivery_options, &p.metrics);
  PartitionStreamerOptions streamer_options;
  streamer_options.self_id = options_.id;
  streamer_options.stream_bytes_per_s = options_.stream_bytes_per_s;
  streamer_options.start_delay_ms = options_.request_timeout_ms + 1000;
  p.streamer =
      std::make_unique<PartitionStreamer>(p.io, p.membership.get(), p.transport.get(),
                                          p.store.get(), &p.clock, streamer_options, &p.metrics);
  p.membership->on_member_alive([&p](const std::string&) { p.delivery->wake(); });
  // A decommissioned (or removed) node has handed its data over: it exits, and says so on disk
  // so that a restart (a container restarted by Kubernetes, a supervisor) does not join again
  // with data that is no longer its to serve.
  p.membership->on_departed([this] {
    const Status marked = mark_departed(options_.data_dir);
    if (!marked.ok()) spdlog::error("cannot record the departure: {}", marked.to_string());
    stop();
  });
  CHORUS_RETURN_IF_ERROR(p.membership->start());
  p.delivery->start();
  p.streamer->start();
  if (p.repair) p.repair->start();

  return Status::OK();
}

Status Node::serve_clients() {
  Parts& p = *parts_;
  p.service = std::make_unique<NodeService>(options_.id, p.coordinator.get(), p.membership.get(),
                                            p.store.get(), p.streamer.get(), p.repair.get(),
                                            options_.replicas);
  KvApiOptions api_options;
  api_options.value_bytes_max = options_.max_value_bytes;
  api_options.replicas = options_.replicas;
  api_options.acl = p.acl.get();
  p.api = std::make_unique<KvApi>(p.service.get(), api_options, &p.metrics, &p.clock);
  HttpServerOptions http_options;
  // A JSON body carries the value base64-encoded at worst: 4/3 of it plus the envelope.
  http_options.body_bytes_max = options_.max_value_bytes / 3 * 4 + 64 * 1024;
  if (p.tls) http_options.tls_context = [tls = p.tls] { return tls->https(); };
  p.http = std::make_unique<HttpServer>(
      p.io, http_options,
      [&p](HttpRequest request, HttpRespond respond) {
        p.api->handle(std::move(request), std::move(respond));
      },
      &p.metrics);
  CHORUS_RETURN_IF_ERROR(p.http->listen(options_.http_address));

  return Status::OK();
}

void Node::start_threads() {
  Parts& p = *parts_;
  p.signals.async_wait([this](boost::system::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("received signal {}, shutting down", signal);
    stop();
  });
  p.security_files_hash = hash_files(security_files(options_));
  reload_on_sighup();
  watch_security_files();
  const int threads = options_.threads > 0
                          ? options_.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) p.threads.emplace_back([&p] { p.io.run(); });
  spdlog::info("chorusd {} serving http on {}, peers on {}, engine {}, data in {}", options_.id,
               p.http->local_address(), p.transport->local_address(),
               engine_kind_name(options_.engine), options_.data_dir);
}

Status Node::open_security() {
  Parts& p = *parts_;
  const std::string name = "chorus_security_reloads_total";
  const std::string help =
      "Reloads of the ACL file, gossip keyring and TLS files (SIGHUP or a change seen), by result";
  p.reloads_ok = p.metrics.counter(name, help, R"(result="ok")");
  p.reloads_failed = p.metrics.counter(name, help, R"(result="error")");
  if (!options_.acl_file.empty()) {
    Result<std::unique_ptr<security::AclFile>> acl = security::AclFile::open(options_.acl_file);
    if (!acl.ok()) return Status::InvalidArgument("--acl-file: " + acl.status().message());
    p.acl = std::move(acl).value();
    spdlog::info("HTTP API access control on: {} tokens from {}", p.acl->current()->size(),
                 options_.acl_file);
  }
  if (!options_.gossip_key.empty()) {
    Result<security::GossipKeyring> ring = security::GossipKeyring::load(options_.gossip_key);
    if (!ring.ok()) return Status::InvalidArgument("--gossip-key: " + ring.status().message());
    spdlog::info("gossip encryption on: {} keys from {}", ring->keys().size(), options_.gossip_key);
    p.gossip_sealer = std::make_shared<security::GossipSealer>(
        std::make_shared<const security::GossipKeyring>(std::move(ring).value()));
  }
  if (!options_.tls_cert.empty() || !options_.tls_key.empty() || !options_.tls_ca.empty()) {
    Result<std::unique_ptr<security::TlsCredentials>> tls = security::TlsCredentials::open(
        security::TlsFiles{options_.tls_cert, options_.tls_key, options_.tls_ca, options_.id});
    if (!tls.ok()) return tls.status();
    p.tls = std::move(tls).value();
    spdlog::info("TLS on: HTTPS on {} and mutual TLS on {} with {} (CA {})", options_.http_address,
                 options_.peer_address, options_.tls_cert, options_.tls_ca);
  }
  const bool beyond_loopback =
      !is_loopback_address(options_.http_address) || !is_loopback_address(options_.peer_address);
  if (beyond_loopback && options_.insecure && !(p.tls && p.acl && p.gossip_sealer)) {
    spdlog::warn(
        "--insecure: listening beyond loopback without full security; anyone who reaches {} or "
        "{} may read and change the cluster",
        options_.http_address, options_.peer_address);
  }
  return Status::OK();
}

void Node::reload_on_sighup() {
  Parts& p = *parts_;
  p.reload_signals.async_wait([this, &p](boost::system::error_code ec, int) {
    if (ec) return;
    reload_security("SIGHUP");
    reload_on_sighup();
  });
}

void Node::watch_security_files() {
  Parts& p = *parts_;
  if (options_.security_reload_check_s == 0 || security_files(options_).empty()) return;
  p.reload_check_timer.expires_after(std::chrono::seconds(options_.security_reload_check_s));
  p.reload_check_timer.async_wait([this, &p](boost::system::error_code ec) {
    if (ec) return;
    if (hash_files(security_files(options_)) != p.security_files_hash) {
      reload_security("files changed");
    }
    watch_security_files();
  });
}

void Node::reload_security(const char* why) {
  Parts& p = *parts_;
  if (!p.acl && !p.gossip_sealer && !p.tls) return;
  p.security_files_hash = hash_files(security_files(options_));
  bool failed = false;
  if (p.acl) {
    const Status st = p.acl->reload();
    failed |= !st.ok();
    if (st.ok()) {
      spdlog::info("{}: reloaded {} ({} tokens)", why, p.acl->path(), p.acl->current()->size());
    } else {
      spdlog::error("{}: keeping the previous ACL: {}", why, st.message());
    }
  }
  if (p.gossip_sealer) {
    Result<security::GossipKeyring> ring = security::GossipKeyring::load(options_.gossip_key);
    failed |= !ring.ok();
    if (ring.ok()) {
      spdlog::info("{}: reloaded {} ({} keys)", why, options_.gossip_key, ring->keys().size());
      p.gossip_sealer->set_keyring(
          std::make_shared<const security::GossipKeyring>(std::move(ring).value()));
    } else {
      spdlog::error("{}: keeping the previous gossip keyring: {}", why, ring.status().message());
    }
  }
  if (p.tls) {
    const Status st = p.tls->reload();
    failed |= !st.ok();
    if (st.ok()) {
      spdlog::info("{}: reloaded the TLS certificate {} and CA {}", why, options_.tls_cert,
                   options_.tls_ca);
    } else {
      spdlog::error("{}: keeping the previous TLS credentials: {}", why, st.message());
    }
  }
  (failed ? p.reloads_failed : p.reloads_ok)->inc();
}

void Node::run() {
  for (auto& t : parts_->threads) {
    if (t.joinable()) t.join();
  }
  if (parts_->store) {
    Status st = parts_->store->flush();
    if (!st.ok()) spdlog::error("flush on shutdown: {}", st.to_string());
  }
  spdlog::info("chorusd {} stopped", options_.id);
}

void Node::stop() {
  Parts& p = *parts_;
  if (p.stopping.exchange(true)) return;
  asio::post(p.io, [this, &p] {
    boost::system::error_code ignored;
    p.signals.cancel(ignored);
    p.reload_signals.cancel(ignored);
    p.reload_check_timer.cancel();
    // Stop taking requests, then let the ones in flight finish (their replica RPCs still need the
    // transport) before the rest shuts down.
    if (p.http) p.http->close();
    drain(p.clock.steady_ms() + options_.request_timeout_ms);
  });
}

void Node::drain(uint64_t deadline_ms) {
  Parts& p = *parts_;
  const bool idle = !p.coordinator || p.coordinator->in_flight() == 0;
  if (!idle && p.clock.steady_ms() < deadline_ms) {
    p.drain_timer.expires_after(std::chrono::milliseconds(kDrainPollMs));
    p.drain_timer.async_wait(
        [this, deadline_ms](boost::system::error_code) { drain(deadline_ms); });
    return;
  }
  if (p.membership) p.membership->stop();
  if (p.streamer) p.streamer->stop();
  if (p.repair) p.repair->stop();
  if (p.delivery) p.delivery->stop();
  if (p.transport) p.transport->close();
  // run() returns once the handlers still queued have run.
  p.work.reset();
}

}  // namespace chorus
