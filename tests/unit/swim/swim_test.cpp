// The Swim core driven by hand through a tiny in-memory network in virtual time: joining, probes,
// indirect probes, suspicion, refutation, dead declaration, dissemination and input hygiene.
// (tests/sim runs the same core through a faulty network over many seeds.)
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "membership/swim/swim.h"

using namespace chorus;
using namespace chorus::swim;

namespace {

constexpr uint64_t kTickMs = 50;

Member member(const std::string& id) {
  return Member{id, id + ":7000", id + ":8080"};
}

Config config(const std::string& id, std::vector<std::string> seeds, uint64_t seed = 1) {
  Config c;
  c.self = member(id);
  c.seeds = std::move(seeds);
  c.random_seed = seed;
  return c;
}

// Delivers every datagram at once (same tick), except over cut links or to nodes removed.
class Net {
 public:
  Swim& add(const std::string& id, std::vector<std::string> seeds) {
    auto created = Swim::create(config(id, std::move(seeds), nodes_.size() + 1));
    REQUIRE(created.ok());
    return nodes_.emplace(id + ":7000", std::move(created).value()).first->second;
  }
  Swim& at(const std::string& id) { return nodes_.at(id + ":7000"); }
  void remove(const std::string& id) { nodes_.erase(id + ":7000"); }
  void cut(const std::string& a, const std::string& b) {
    cut_.insert({a + ":7000", b + ":7000"});
    cut_.insert({b + ":7000", a + ":7000"});
  }
  void run_ms(uint64_t ms) {
    for (uint64_t end = now_ms_ + ms; now_ms_ < end;) {
      now_ms_ += kTickMs;
      for (auto& [address, swim] : nodes_) swim.tick(now_ms_);
      deliver();
    }
  }
  uint64_t now_ms() const { return now_ms_; }
  // Every datagram sent so far, decoded, with its sender address.
  std::vector<std::pair<std::string, Message>> sent;

 private:
  void deliver() {
    for (bool busy = true; busy;) {
      busy = false;
      for (auto& [from, swim] : nodes_) {
        for (Datagram& d : swim.take_outgoing()) {
          busy = true;
          REQUIRE(d.bytes.size() <= kMaxDatagramBytes);
          sent.emplace_back(from, decode(d.bytes).value());
          auto to = nodes_.find(d.to_address);
          if (to == nodes_.end() || cut_.count({from, d.to_address})) continue;
          to->second.step(from, d.bytes, now_ms_);
        }
      }
    }
  }
  std::map<std::string, Swim> nodes_;
  std::set<std::pair<std::string, std::string>> cut_;
  uint64_t now_ms_ = 0;
};

bool sees(Net& net, const std::string& observer, const std::string& subject, State state) {
  const MemberInfo* info = net.at(observer).find(subject);
  return info != nullptr && info->state == state;
}

Message from(const std::string& id, MessageType type, uint64_t seq = 0) {
  Message m;
  m.type = type;
  m.seq = seq;
  m.sender = member(id);
  return m;
}

Swim lone(const std::string& id) {
  auto created = Swim::create(config(id, {}));
  REQUIRE(created.ok());
  return std::move(created).value();
}

}  // namespace

TEST_CASE("swim core: create rejects bad configurations") {
  auto bad = [](auto mutate) {
    Config c = config("a", {"b:7000"});
    mutate(c);
    Result<Swim> r = Swim::create(c);
    return !r.ok() && r.status().code() == Status::Code::kInvalidArgument;
  };
  CHECK(bad([](Config& c) { c.self.id.clear(); }));
  CHECK(bad([](Config& c) { c.self.peer_address = std::string(kMaxAddressBytes + 1, 'x'); }));
  CHECK(bad([](Config& c) { c.seeds = {""}; }));
  CHECK(bad([](Config& c) { c.seeds.assign(kMaxSeeds + 1, "s:1"); }));
  CHECK(bad([](Config& c) { c.probe_timeout_ms = c.probe_interval_ms; }));
  CHECK(bad([](Config& c) { c.probe_interval_ms = 0; }));
  CHECK(bad([](Config& c) { c.indirect_probes = kMaxIndirectProbes + 1; }));
  CHECK(bad([](Config& c) { c.suspicion_mult = 0; }));
  CHECK(bad([](Config& c) { c.retransmit_mult = 0; }));
  CHECK(bad([](Config& c) { c.sync_interval_ms = 0; }));
  CHECK(Swim::create(config("a", {"b:7000"})).ok());
}

TEST_CASE("swim core: nodes that know only a seed join and learn the whole cluster") {
  Net net;
  net.add("a", {"a:7000"});  // the seed lists itself
  net.add("b", {"a:7000"});
  net.add("c", {"a:7000"});
  net.run_ms(1'000);
  for (const char* o : {"a", "b", "c"}) {
    for (const char* s : {"a", "b", "c"}) CHECK(sees(net, o, s, State::kAlive));
    CHECK(net.at(o).joined());
  }
  const uint64_t joins = net.at("b").stats().joins_sent;
  CHECK(joins >= 1);
  CHECK(net.at("a").stats().joins_sent == 0);  // its only seed is itself
  net.run_ms(2'000);
  CHECK(net.at("b").stats().joins_sent == joins);  // joined: no more joins
}

TEST_CASE("swim core: a silent member is probed indirectly then suspected then declared dead") {
  Net net;
  for (const char* id : {"a", "b", "c"}) net.add(id, {"a:7000"});
  net.run_ms(1'000);
  REQUIRE(sees(net, "a", "c", State::kAlive));
  net.at("a").take_changes();
  net.remove("c");
  uint64_t suspected_at = 0, dead_at = 0;
  for (int i = 0; i < 100 && dead_at == 0; ++i) {
    net.run_ms(kTickMs);
    for (const Change& c : net.at("a").take_changes()) {
      REQUIRE(c.member.id == "c");
      if (c.new_state == State::kSuspect) suspected_at = net.now_ms();
      if (c.new_state == State::kDead) dead_at = net.now_ms();
    }
  }
  REQUIRE(dead_at != 0);
  // a suspected c itself or heard b's suspicion; either way the timeout ran before dead.
  if (suspected_at != 0) CHECK(dead_at - suspected_at >= net.at("a").suspicion_timeout_ms() - 50);
  bool ping_req_about_c = false;
  for (const auto& [sender, m] : net.sent) {
    ping_req_about_c |= m.type == MessageType::kPingReq && m.target_id == "c";
  }
  CHECK(ping_req_about_c);
  CHECK(sees(net, "b", "c", State::kDead));
}

TEST_CASE("swim core: indirect probes keep a member alive when only the direct link is cut") {
  Net net;
  for (const char* id : {"a", "b", "c"}) net.add(id, {"a:7000"});
  net.run_ms(1'000);
  net.cut("a", "c");
  net.run_ms(10'000);
  CHECK(sees(net, "a", "c", State::kAlive));
  CHECK(sees(net, "c", "a", State::kAlive));
  CHECK(net.at("a").stats().ping_reqs_sent > 0);
  CHECK(net.at("a").stats().suspicions == 0);
  CHECK(net.at("b").stats().relays_dropped == 0);
}

TEST_CASE("swim core: a member that hears it is suspected refutes with a higher incarnation") {
  Swim b = lone("b");
  Message m = from("a", MessageType::kAck, 99);
  m.updates = {Update{State::kSuspect, member("b"), 0}};
  b.step("a:7000", encode(m), 0);
  CHECK(b.self().incarnation == 1);
  CHECK(b.stats().refutations == 1);
  // Its next datagram says so, both as sender and as a piggybacked alive claim.
  Message ping = from("a", MessageType::kPing, 1);
  b.step("a:7000", encode(ping), 1);
  const auto out = b.take_outgoing();
  REQUIRE(out.size() == 1);
  const Message ack = decode(out[0].bytes).value();
  CHECK(ack.sender_incarnation == 1);
  bool carries_alive = false;
  for (const Update& u : ack.updates) {
    carries_alive |= u.member.id == "b" && u.state == State::kAlive && u.incarnation == 1;
  }
  CHECK(carries_alive);
}

TEST_CASE("swim core: a ping is acked to its source address with the same sequence number") {
  Swim b = lone("b");
  Message ping = from("a", MessageType::kPing, 77);
  ping.target_id = "b";
  b.step("10.1.1.1:5555", encode(ping), 0);
  const auto out = b.take_outgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "10.1.1.1:5555");
  const Message ack = decode(out[0].bytes).value();
  CHECK(ack.type == MessageType::kAck);
  CHECK(ack.seq == 77);
  CHECK(ack.sender.id == "b");
  CHECK(b.find("a") != nullptr);  // the ping's sender record taught b about a
}

TEST_CASE("swim core: malformed and misaddressed datagrams are dropped and counted") {
  Swim b = lone("b");
  b.step("x:1", "", 0);
  b.step("x:1", std::string("\x01\x09garbage", 9), 0);
  CHECK(b.stats().datagrams_malformed == 2);
  Message wrong = from("a", MessageType::kPing, 5);
  wrong.target_id = "someone-else";  // for a node that used to live at this address
  b.step("a:7000", encode(wrong), 0);
  Message impostor = from("b", MessageType::kPing, 6);  // claims to be b
  b.step("a:7000", encode(impostor), 0);
  CHECK(b.stats().datagrams_misaddressed == 2);
  CHECK(b.stats().datagrams_received == 4);
  CHECK(b.take_outgoing().empty());
  CHECK(b.members().size() == 2);  // b, and a from the misaddressed ping's sender record
}

TEST_CASE("swim core: a datagram to a member held suspect carries that suspicion first") {
  Swim a = lone("a");
  Message sync = from("c", MessageType::kSync);
  sync.updates = {Update{State::kAlive, member("b"), 3}, Update{State::kSuspect, member("b"), 3}};
  a.step("c:7000", encode(sync), 0);
  REQUIRE(a.find("b")->state == State::kSuspect);
  Message ping = from("b", MessageType::kPing, 1);
  ping.sender_incarnation = 3;  // b has not heard yet
  a.step("b:7000", encode(ping), 10);
  const auto out = a.take_outgoing();
  REQUIRE(out.size() == 1);
  const Message ack = decode(out[0].bytes).value();
  REQUIRE(!ack.updates.empty());
  CHECK(ack.updates[0].member.id == "b");
  CHECK(ack.updates[0].state == State::kSuspect);
  CHECK(ack.updates[0].incarnation == 3);
}

TEST_CASE("swim core: a dead member that comes back with a higher incarnation is alive again") {
  Swim a = lone("a");
  Message sync = from("c", MessageType::kSync);
  sync.updates = {Update{State::kAlive, member("b"), 2}, Update{State::kDead, member("b"), 2}};
  a.step("c:7000", encode(sync), 0);
  REQUIRE(a.find("b")->state == State::kDead);
  a.take_changes();
  Message back = from("b", MessageType::kPing, 1);
  back.sender_incarnation = 2;  // same life: still dead
  a.step("b:7000", encode(back), 1);
  CHECK(a.find("b")->state == State::kDead);
  back.sender_incarnation = 3;  // it refuted
  a.step("b:7000", encode(back), 2);
  CHECK(a.find("b")->state == State::kAlive);
  const auto changes = a.take_changes();
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].old_state == State::kDead);
  CHECK(changes[0].new_state == State::kAlive);
}

TEST_CASE("swim core: a join is answered with the whole table in bounded sync datagrams") {
  Swim a = lone("a");
  // Teach a 600 members (in sync datagrams, as a join reply would).
  Message sync = from("seed", MessageType::kSync);
  for (int i = 0; i < 600; ++i) {
    sync.updates.push_back(Update{State::kAlive, member("m" + std::to_string(i)), 1});
    if (sync.updates.size() == 20) {
      a.step("seed:7000", encode(sync), 0);
      sync.updates.clear();
    }
  }
  REQUIRE(a.members().size() == 602);
  a.take_outgoing();
  a.step("j:7000", encode(from("joiner", MessageType::kJoin)), 1);
  std::set<std::string> covered;
  const auto out = a.take_outgoing();
  CHECK(out.size() <= kMaxSyncDatagrams);
  for (const Datagram& d : out) {
    CHECK(d.to_address == "j:7000");
    CHECK(d.bytes.size() <= kMaxDatagramBytes);
    const Message chunk = decode(d.bytes).value();
    for (const Update& u : chunk.updates) covered.insert(u.member.id);
  }
  CHECK(covered.size() == a.members().size());
  // Probes and acks piggyback the 600 queued updates without ever exceeding a datagram.
  for (uint64_t t = 0; t < 5'000; t += kTickMs) {
    a.tick(t);
    for (const Datagram& d : a.take_outgoing()) REQUIRE(d.bytes.size() <= kMaxDatagramBytes);
  }
}

TEST_CASE("swim core: each update is piggybacked at most transmit_limit times") {
  Swim a = lone("a");
  Message intro = from("b", MessageType::kPing, 1);
  a.step("b:7000", encode(intro), 0);  // a learns b: one update to disseminate (alive b)
  a.take_outgoing();
  const int limit = a.transmit_limit();
  REQUIRE(limit == 4);  // 4 * ceil(log10(2 + 1))
  int carried = 0;
  for (int i = 0; i < 3 * limit; ++i) {
    a.step("b:7000", encode(from("b", MessageType::kPing, 2 + i)), 1);
    for (const Datagram& d : a.take_outgoing()) {
      const Message m = decode(d.bytes).value();
      for (const Update& u : m.updates) carried += u.member.id == "b";
    }
  }
  CHECK(carried == limit - 1);  // the first went out on the ack taken above
  CHECK(a.queued_broadcasts() == 0);
}

TEST_CASE("swim core: time that goes backwards counts as standing still") {
  Net net;
  net.add("a", {"a:7000"});
  net.add("b", {"a:7000"});
  net.run_ms(1'000);
  Swim& a = net.at("a");
  a.tick(10);  // earlier than now: nothing may expire or fire early
  CHECK(sees(net, "a", "b", State::kAlive));
  CHECK(a.stats().probes_failed == 0);
}
