#include "membership/swim/gossip.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <charconv>
#include <map>
#include <optional>

#include "core/address.h"

namespace chorus {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

// Sends handed to the kernel and not yet completed; UDP sends complete at once unless the socket
// buffer is full, in which case dropping is the right answer for gossip.
constexpr size_t kMaxSendsInFlight = 1024;
// Resolved "host:port" strings kept; the cache is cleared when it reaches this many.
constexpr size_t kMaxCachedEndpoints = 2 * swim::kMaxMembers + swim::kMaxSeeds;
constexpr size_t kMaxResolvesInFlight = 16;
// DNS names are re-resolved this often (a restarted Kubernetes pod keeps its name, not its IP).
constexpr uint64_t kResolveTtlMs = 30'000;
static_assert(kMaxSendsInFlight >= swim::kMaxSyncDatagrams, "a join reply fits in flight");
// A sealed datagram still fits one Ethernet frame (1452 bytes of UDP payload over IPv6).
static_assert(swim::kMaxDatagramBytes + security::kSealOverheadBytes <= 1452,
              "a sealed gossip datagram must fit one Ethernet frame");

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// "host:port" or "[v6]:port" with a host; nullopt when malformed.
std::optional<HostPort> split_host_port(const std::string& address) {
  HostPort out;
  if (!parse_host_port(address, &out.host, &out.port).ok() || out.host.empty()) {
    return std::nullopt;
  }
  return out;
}

std::string endpoint_string(const udp::endpoint& ep) {
  const std::string ip = ep.address().to_string();
  const std::string host = ep.address().is_v6() ? "[" + ip + "]" : ip;
  return host + ":" + std::to_string(ep.port());
}

struct GossipMetrics {
  explicit GossipMetrics(MetricsRegistry* r)
      : alive(r->gauge("chorus_gossip_members", "Members by gossip state", "state=\"alive\"")),
        suspect(r->gauge("chorus_gossip_members", "Members by gossip state", "state=\"suspect\"")),
        dead(r->gauge("chorus_gossip_members", "Members by gossip state", "state=\"dead\"")),
        sent(r->counter("chorus_gossip_datagrams_sent_total", "Gossip datagrams sent")),
        received(r->counter("chorus_gossip_datagrams_received_total", "Datagrams received")),
        malformed(dropped(r, "malformed")),
        misaddressed(dropped(r, "misaddressed")),
        blocked(dropped(r, "blocked")),
        unresolved(dropped(r, "unresolved")),
        send_failed(dropped(r, "send_error")),
        overflow(dropped(r, "queue_full")),
        probes(r->counter("chorus_gossip_probes_total", "Probes started")),
        probes_failed(r->counter("chorus_gossip_probes_failed_total",
                                 "Probes with no direct or indirect ack in their interval")),
        suspicions(r->counter("chorus_gossip_suspicions_total",
                              "Suspicions raised by this node's own failed probes")),
        refutations(r->counter("chorus_gossip_refutations_total",
                               "Times this node refuted a suspicion of itself")),
        unsealed(refused(r, "gossip_unsealed")),
        unauthentic(refused(r, "gossip_unauthentic")),
        replayed(refused(r, "gossip_replayed")) {}

  static Counter* refused(MetricsRegistry* r, const char* reason) {
    return security_refusal_counter(r, reason);
  }

  static Counter* dropped(MetricsRegistry* r, const char* reason) {
    return r->counter("chorus_gossip_datagrams_dropped_total", "Gossip datagrams dropped",
                      std::string("reason=\"") + reason + "\"");
  }

  Gauge *alive, *suspect, *dead;
  Counter *sent, *received, *malformed, *misaddressed, *blocked, *unresolved, *send_failed,
      *overflow, *probes, *probes_failed, *suspicions, *refutations, *unsealed, *unauthentic,
      *replayed;
};

void add_delta(Counter* c, uint64_t now, uint64_t before) {
  if (now > before) c->inc(now - before);
}

}  // namespace

// Everything the strand touches. Shared by the Gossip handle and by every pending handler, so a
// handler that runs (or is destroyed) after the Gossip is gone still finds live state. The socket,
// timer and resolver use the strand as their executor, so every completion runs on it.
struct Gossip::Impl : std::enable_shared_from_this<Gossip::Impl> {
  Impl(asio::io_context& io, GossipOptions opts, const Clock* clk, MetricsRegistry* registry)
      : strand_(asio::make_strand(io)),
        socket_(strand_),
        timer_(strand_),
        resolver_(strand_),
        options_(std::move(opts)),
        clock_(clk),
        metrics_(registry),
        snapshot_(std::make_shared<const MemberSnapshot>()) {}

  Status open();
  void receive();
  void on_receive(const boost::system::error_code& ec, size_t bytes);
  // The SWIM bytes of a received datagram, or nullopt (counted) when it does not open.
  std::optional<std::string> unseal(std::string_view datagram);
  void schedule_tick();
  void flush();
  void send(swim::Datagram d);
  std::optional<udp::endpoint> endpoint_for(const std::string& address);
  void resolve(const std::string& address, const HostPort& hp);
  void publish();
  void close();

  struct Resolved {
    udp::endpoint endpoint;
    uint64_t resolved_ms = 0;
    bool numeric = false;
  };

  asio::strand<asio::io_context::executor_type> strand_;
  udp::socket socket_;
  asio::steady_timer timer_;
  udp::resolver resolver_;
  GossipOptions options_;
  const Clock* clock_;
  GossipMetrics metrics_;
  std::optional<swim::Swim> core_;                  // set by start(); used on the strand only
  std::shared_ptr<const MemberSnapshot> snapshot_;  // std::atomic_load / atomic_store only
  std::vector<std::function<void(const swim::Change&)>> callbacks_;
  std::set<std::string> blocked_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  // +1: oversized datagrams stay visible
  std::array<char, swim::kMaxDatagramBytes + security::kSealOverheadBytes + 1> buffer_{};
  udp::endpoint sender_;
  std::map<std::string, Resolved> endpoints_;
  std::set<std::string> resolving_;
  size_t sends_in_flight_ = 0;
  uint64_t published_version_ = UINT64_MAX;
  swim::Stats last_stats_;
};

Gossip::Gossip(asio::io_context& io, GossipOptions options, const Clock* clock,
               MetricsRegistry* metrics)
    : impl_(std::make_shared<Impl>(io, std::move(options), clock, metrics)) {}

Gossip::~Gossip() {
  stop();
}

Status Gossip::start() {
  if (impl_->started_.exchange(true)) return Status::InvalidArgument("gossip: already started");
  CHORUS_RETURN_IF_ERROR(impl_->open());
  auto impl = impl_;
  asio::post(impl->strand_, [impl] {
    if (impl->stopped_) return;
    impl->publish();
    impl->receive();
    impl->core_->tick(impl->clock_->steady_ms());
    impl->flush();
    impl->schedule_tick();
  });
  return Status::OK();
}

void Gossip::stop() {
  if (impl_->stopped_.exchange(true)) return;
  auto impl = impl_;
  asio::post(impl->strand_, [impl] { impl->close(); });
}

std::shared_ptr<const MemberSnapshot> Gossip::members() const {
  return std::atomic_load(&impl_->snapshot_);
}

const Member& Gossip::self() const {
  return impl_->options_.config.self;
}

void Gossip::on_change(std::function<void(const swim::Change&)> callback) {
  impl_->callbacks_.push_back(std::move(callback));
}

void Gossip::set_blocked_peers(std::set<std::string> addresses) {
  auto impl = impl_;
  asio::post(impl->strand_,
             [impl, addresses = std::move(addresses)]() mutable { impl->blocked_ = addresses; });
}

Status Gossip::Impl::open() {
  Member& self = options_.config.self;
  const std::optional<HostPort> hp = split_host_port(self.peer_address);
  if (!hp) return Status::InvalidArgument("gossip: bad peer address '" + self.peer_address + "'");
  boost::system::error_code ec;
  udp::endpoint local;
  const asio::ip::address ip = asio::ip::make_address(hp->host, ec);
  if (!ec) {
    local = udp::endpoint(ip, hp->port);
  } else {
    // Startup only: a blocking lookup of our own name before any handler runs.
    udp::resolver sync_resolver(strand_);
    auto results = sync_resolver.resolve(hp->host, std::to_string(hp->port), ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("gossip: cannot resolve '" + hp->host + "': " + ec.message());
    }
    local = results.begin()->endpoint();
  }
  socket_.open(local.protocol(), ec);
  if (!ec) socket_.bind(local, ec);
  if (ec) {
    boost::system::error_code ignored;
    socket_.close(ignored);
    return Status::IOError("gossip: cannot bind udp " + self.peer_address + ": " + ec.message());
  }
  if (hp->port == 0) {
    const uint16_t port = socket_.local_endpoint(ec).port();
    const bool v6 = hp->host.find(':') != std::string::npos;
    self.peer_address = (v6 ? "[" + hp->host + "]" : hp->host) + ":" + std::to_string(port);
  }
  Result<swim::Swim> created = swim::Swim::create(options_.config);
  if (!created.ok()) {
    socket_.close(ec);
    return created.status();
  }
  core_.emplace(std::move(created).value());
  spdlog::info("gossip: {} listening on udp {}", self.id, self.peer_address);
  return Status::OK();
}

void Gossip::Impl::receive() {
  socket_.async_receive_from(
      asio::buffer(buffer_), sender_,
      [self = shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
        self->on_receive(ec, bytes);
      });
}

void Gossip::Impl::on_receive(const boost::system::error_code& ec, size_t bytes) {
  if (stopped_ || ec == asio::error::operation_aborted || !socket_.is_open()) return;
  if (ec) {
    // ICMP port-unreachable from an earlier send surfaces here on Linux; keep listening.
    spdlog::debug("gossip: receive: {}", ec.message());
  } else {
    const std::string from = endpoint_string(sender_);
    if (blocked_.count(from) != 0) {
      metrics_.blocked->inc();
    } else if (std::optional<std::string> payload =
                   unseal(std::string_view(buffer_.data(), bytes))) {
      core_->step(from, *payload, clock_->steady_ms());
      flush();
    }
  }
  receive();
}

std::optional<std::string> Gossip::Impl::unseal(std::string_view datagram) {
  if (!options_.sealer) return std::string(datagram);
  security::GossipSealer::Opened opened = options_.sealer->open(datagram);
  switch (opened.outcome) {
    case security::GossipSealer::Outcome::kOpened:
      return std::move(opened.payload);
    case security::GossipSealer::Outcome::kMalformed:
      metrics_.unsealed->inc();
      break;
    case security::GossipSealer::Outcome::kUnauthentic:
      metrics_.unauthentic->inc();
      break;
    case security::GossipSealer::Outcome::kReplayed:
      metrics_.replayed->inc();
      break;
  }
  spdlog::debug("gossip: dropped a datagram from {} that did not open", endpoint_string(sender_));
  return std::nullopt;
}

void Gossip::Impl::schedule_tick() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(options_.tick_interval_ms));
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->stopped_) return;
    self->core_->tick(self->clock_->steady_ms());
    self->flush();
    self->schedule_tick();
  });
}

void Gossip::Impl::flush() {
  for (swim::Datagram& d : core_->take_outgoing()) send(std::move(d));
  const std::vector<swim::Change> changes = core_->take_changes();
  if (core_->version() != published_version_) publish();
  for (const swim::Change& c : changes) {
    spdlog::info("gossip {}: member {} ({}) {} -> {} at incarnation {}", options_.config.self.id,
                 c.member.id, c.member.peer_address,
                 c.old_state ? swim::state_name(*c.old_state) : "new",
                 swim::state_name(c.new_state), c.incarnation);
    for (const auto& callback : callbacks_) {
      if (stopped_) return;
      callback(c);
    }
  }
  const swim::Stats& s = core_->stats();
  add_delta(metrics_.received, s.datagrams_received, last_stats_.datagrams_received);
  add_delta(metrics_.malformed, s.datagrams_malformed, last_stats_.datagrams_malformed);
  add_delta(metrics_.misaddressed, s.datagrams_misaddressed, last_stats_.datagrams_misaddressed);
  add_delta(metrics_.overflow, s.datagrams_dropped, last_stats_.datagrams_dropped);
  add_delta(metrics_.probes, s.probes, last_stats_.probes);
  add_delta(metrics_.probes_failed, s.probes_failed, last_stats_.probes_failed);
  add_delta(metrics_.suspicions, s.suspicions, last_stats_.suspicions);
  add_delta(metrics_.refutations, s.refutations, last_stats_.refutations);
  last_stats_ = s;
}

void Gossip::Impl::send(swim::Datagram d) {
  if (blocked_.count(d.to_address) != 0) return metrics_.blocked->inc();
  const std::optional<udp::endpoint> to = endpoint_for(d.to_address);
  if (!to) return metrics_.unresolved->inc();
  if (sends_in_flight_ >= kMaxSendsInFlight) return metrics_.overflow->inc();
  ++sends_in_flight_;
  auto bytes = std::make_shared<std::string>(options_.sealer ? options_.sealer->seal(d.bytes)
                                                             : std::move(d.bytes));
  socket_.async_send_to(
      asio::buffer(*bytes), *to,
      [self = shared_from_this(), bytes](const boost::system::error_code& ec, size_t) {
        --self->sends_in_flight_;
        if (!ec) return self->metrics_.sent->inc();
        if (ec != asio::error::operation_aborted) self->metrics_.send_failed->inc();
      });
}

std::optional<udp::endpoint> Gossip::Impl::endpoint_for(const std::string& address) {
  const uint64_t now_ms = clock_->steady_ms();
  auto it = endpoints_.find(address);
  if (it != endpoints_.end()) {
    if (!it->second.numeric && now_ms - it->second.resolved_ms > kResolveTtlMs) {
      if (auto hp = split_host_port(address)) resolve(address, *hp);  // keep using the old one
    }
    return it->second.endpoint;
  }
  const std::optional<HostPort> hp = split_host_port(address);
  if (!hp) return std::nullopt;
  if (endpoints_.size() >= kMaxCachedEndpoints) endpoints_.clear();
  boost::system::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(hp->host, ec);
  if (!ec) {
    const udp::endpoint ep(ip, hp->port);
    endpoints_[address] = Resolved{ep, now_ms, true};
    return ep;
  }
  resolve(address, *hp);  // this datagram is lost; gossip retries anyway
  return std::nullopt;
}

void Gossip::Impl::resolve(const std::string& address, const HostPort& hp) {
  if (resolving_.count(address) != 0 || resolving_.size() >= kMaxResolvesInFlight) return;
  resolving_.insert(address);
  resolver_.async_resolve(
      hp.host, std::to_string(hp.port),
      [self = shared_from_this(), address](const boost::system::error_code& ec,
                                           const udp::resolver::results_type& results) {
        self->resolving_.erase(address);
        if (ec || results.empty() || self->stopped_) {
          if (ec && ec != asio::error::operation_aborted) {
            spdlog::warn("gossip: cannot resolve {}: {}", address, ec.message());
          }
          return;
        }
        self->endpoints_[address] =
            Resolved{results.begin()->endpoint(), self->clock_->steady_ms(), false};
      });
}

void Gossip::Impl::publish() {
  auto next = std::make_shared<MemberSnapshot>();
  int64_t alive = 0, suspect = 0, dead = 0;
  for (const auto& [id, info] : core_->members()) {
    next->push_back(info);
    alive += info.state == swim::State::kAlive ? 1 : 0;
    suspect += info.state == swim::State::kSuspect ? 1 : 0;
    dead += info.state == swim::State::kDead ? 1 : 0;
  }
  metrics_.alive->set(alive);
  metrics_.suspect->set(suspect);
  metrics_.dead->set(dead);
  published_version_ = core_->version();
  std::atomic_store(&snapshot_, std::shared_ptr<const MemberSnapshot>(std::move(next)));
}

void Gossip::Impl::close() {
  boost::system::error_code ec;
  timer_.cancel();
  resolver_.cancel();
  socket_.close(ec);
  if (core_) spdlog::info("gossip: {} stopped", options_.config.self.id);
}

}  // namespace chorus
