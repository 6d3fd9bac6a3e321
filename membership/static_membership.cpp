#include "membership/static_membership.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/coding.h"
#include "core/limits.h"
#include "core/rpc_methods.h"

namespace chorus {
namespace {

constexpr size_t kHelloMembersMax = 1024;
constexpr size_t kAddressBytesMax = 256;

void put_member(std::string* out, const Member& m) {
  put_length_prefixed(out, m.id);
  put_length_prefixed(out, m.peer_address);
  put_length_prefixed(out, m.http_address);
}

bool get_member(Reader* in, Member* m) {
  std::string_view id, peer, http;
  if (!in->get_length_prefixed(&id, kNodeIdBytesMax) ||
      !in->get_length_prefixed(&peer, kAddressBytesMax) ||
      !in->get_length_prefixed(&http, kAddressBytesMax)) {
    return false;
  }
  *m = Member{std::string(id), std::string(peer), std::string(http)};
  return true;
}

}  // namespace

const char* member_state_name(MemberState state) {
  switch (state) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
  }
  return "unknown";
}

StaticMembership::StaticMembership(boost::asio::io_context& io, Transport* transport, HlcClock* hlc,
                                   const Clock* clock, StaticMembershipOptions options,
                                   MetricsRegistry* metrics)
    : io_(io),
      strand_(boost::asio::make_strand(io)),
      timer_(strand_),
      transport_(transport),
      hlc_(hlc),
      clock_(clock),
      options_(std::move(options)),
      table_(options_.self, options_.bootstrap_expect, options_.failure_timeout_ms),
      view_(std::make_shared<ClusterView>()),
      alive_gauge_(
          metrics->gauge("chorus_members_alive", "Ring members currently alive, self included")),
      transitions_(metrics->counter("chorus_member_liveness_changes_total",
                                    "Times a member flipped between alive and dead")) {}

Status StaticMembership::start() {
  CHORUS_RETURN_IF_ERROR(load_persisted());
  boost::asio::post(strand_, [this] { tick(); });
  return Status::OK();
}

void StaticMembership::stop() {
  stopped_ = true;
  boost::asio::post(strand_, [this] { timer_.cancel(); });
}

std::shared_ptr<const ClusterView> StaticMembership::view() const {
  return std::atomic_load(&view_);
}

void StaticMembership::on_member_alive(std::function<void(const std::string&)> listener) {
  alive_listeners_.push_back(std::move(listener));
}

void StaticMembership::schedule_tick() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(options_.hello_interval_ms));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void StaticMembership::tick() {
  if (stopped_) return;
  if (!table_.formed()) {
    // A cluster of one (--bootstrap-expect 1) hears no hello, so formation is tried here too.
    maybe_form();
    publish();
  }
  std::vector<std::string> targets;
  for (const Member& m : table_.known()) {
    if (m.id != options_.self.id) targets.push_back(m.peer_address);
  }
  for (const std::string& seed : options_.seeds) {
    if (seed == options_.self.peer_address) continue;
    if (std::find(targets.begin(), targets.end(), seed) == targets.end()) targets.push_back(seed);
  }
  for (const std::string& address : targets) send_hello(address);

  bool changed = false;
  for (const auto& t : table_.tick(clock_->steady_ms())) {
    changed = true;
    transitions_->inc();
    spdlog::info("member {} is now {}", t.id, t.alive ? "alive" : "dead");
    if (t.alive) {
      for (auto& listener : alive_listeners_) listener(t.id);
    }
  }
  if (changed) publish();
  schedule_tick();
}

void StaticMembership::send_hello(const std::string& address) {
  transport_->call(address, method_id(RpcMethod::kHello), encode_hello(),
                   options_.hello_interval_ms * 2, [this](Result<std::string> reply) {
                     if (!reply.ok() || stopped_) return;
                     boost::asio::post(strand_, [this, payload = std::move(reply).value()] {
                       absorb_hello(payload);
                     });
                   });
}

std::string StaticMembership::encode_hello() const {
  std::string out;
  put_fixed64(&out, hlc_->now().packed);
  put_member(&out, options_.self);
  out.push_back(table_.formed() ? 1 : 0);
  const std::vector<Member> members = table_.formed() ? table_.ring_members() : table_.known();
  put_varint64(&out, members.size());
  for (const Member& m : members) put_member(&out, m);
  return out;
}

void StaticMembership::handle_hello(std::string payload, Responder respond) {
  boost::asio::post(strand_, [this, payload = std::move(payload), respond = std::move(respond)] {
    // The sender is up: stop failing fast on calls to it if an earlier connect left it in backoff.
    if (auto sender = absorb_hello(payload)) transport_->retry_now(sender->peer_address);
    respond(Status::OK(), encode_hello());
  });
}

std::optional<Member> StaticMembership::absorb_hello(std::string_view payload) {
  Reader in(payload);
  uint64_t hlc = 0, count = 0;
  uint8_t formed = 0;
  Member sender;
  std::vector<Member> members;
  bool ok = in.get_fixed64(&hlc) && get_member(&in, &sender) && in.get_u8(&formed) &&
            in.get_varint64(&count) && count <= kHelloMembersMax;
  for (uint64_t i = 0; ok && i < count; ++i) {
    Member m;
    ok = get_member(&in, &m);
    members.push_back(std::move(m));
  }
  if (!ok) {
    spdlog::warn("dropping malformed hello ({} bytes)", payload.size());
    return std::nullopt;
  }
  Status st = hlc_->observe(Timestamp{hlc});
  if (!st.ok()) spdlog::warn("hello from {}: {}", sender.id, st.to_string());
  const bool was_formed = table_.formed();
  if (formed && !was_formed) {
    // Another node formed the ring already: adopt its member set so every node agrees.
    table_.restore(members, clock_->steady_ms());
  } else {
    table_.learn(sender);
    for (const Member& m : members) table_.learn(m);
  }
  table_.heard_from(sender.id, clock_->steady_ms());
  if (!was_formed) maybe_form();
  if (!was_formed && table_.formed()) publish();
  return sender;
}

void StaticMembership::maybe_form() {
  if (!table_.formed() && !table_.try_form(clock_->steady_ms())) return;
  Status st = persist();
  if (!st.ok()) spdlog::error("cannot persist cluster membership: {}", st.to_string());
  spdlog::info("ring formed with {} members", table_.ring_members().size());
}

void StaticMembership::publish() {
  if (!table_.formed()) return;
  if (!ring_) {
    auto ring = Ring::build(table_.ring_members(), options_.partitions, options_.replicas, 1);
    if (!ring.ok()) {
      spdlog::error("cannot build ring: {}", ring.status().to_string());
      return;
    }
    ring_ = std::move(ring).value();
  }
  auto view = std::make_shared<ClusterView>();
  view->ring = ring_;
  int alive = 0;
  for (const Member& m : ring_->members()) {
    const bool up = table_.alive(m.id);
    alive += up ? 1 : 0;
    view->states.push_back(up ? MemberState::kAlive : MemberState::kDead);
  }
  alive_gauge_->set(alive);
  std::atomic_store(&view_, std::shared_ptr<const ClusterView>(std::move(view)));
}

Status StaticMembership::load_persisted() {
  const std::string path = options_.data_dir + "/cluster.json";
  std::ifstream in(path);
  if (!in) return Status::OK();  // first start
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("members")) {
    return Status::Corruption("unreadable " + path);
  }
  std::vector<Member> members;
  try {
    for (const auto& m : j.at("members")) {
      members.push_back({m.at("id").get<std::string>(), m.at("peer").get<std::string>(),
                         m.at("http").get<std::string>()});
    }
    const auto partitions = j.at("partitions").get<uint32_t>();
    const auto replicas = j.at("replicas").get<int>();
    // P and N are fixed at cluster creation; silently adopting different flags would move data.
    if (partitions != options_.partitions || replicas != options_.replicas) {
      return Status::InvalidArgument(
          path + " says partitions=" + std::to_string(partitions) +
          " replicas=" + std::to_string(replicas) + " but the flags say partitions=" +
          std::to_string(options_.partitions) + " replicas=" + std::to_string(options_.replicas));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  table_.restore(std::move(members), clock_->steady_ms());
  spdlog::info("restored ring of {} members from {}", table_.ring_members().size(), path);
  publish();
  return Status::OK();
}

Status StaticMembership::persist() const {
  nlohmann::json j;
  j["partitions"] = options_.partitions;
  j["replicas"] = options_.replicas;
  j["members"] = nlohmann::json::array();
  for (const Member& m : table_.ring_members()) {
    j["members"].push_back({{"id", m.id}, {"peer", m.peer_address}, {"http", m.http_address}});
  }
  const std::string path = options_.data_dir + "/cluster.json";
  const std::string tmp = path + ".tmp";
  const std::string text = j.dump(2) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Status::IOError("open " + tmp);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError("write " + path);
  int dir = ::open(options_.data_dir.c_str(), O_RDONLY);
  if (dir >= 0) {
    ::fsync(dir);  // make the rename durable
    ::close(dir);
  }
  return Status::OK();
}

void StaticMembership::submit(MetaCommand, std::function<void(Status)> done) {
  boost::asio::post(strand_, [done = std::move(done)] {
    done(Status::Unavailable("static membership cannot change"));
  });
}

}  // namespace chorus
