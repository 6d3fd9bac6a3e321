// Gossip over real UDP on 127.0.0.1 (ephemeral ports): convergence, failure detection of a stopped
// node, the blocked-peers fault hook, metrics, and start() errors. Every wait polls a condition
// with a deadline; nothing sleeps to synchronise.
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "membership/swim/gossip.h"
#include "tests/unit/io_test_util.h"

using namespace chorus;
using swim::State;

namespace {

using test::IoRunner;
using test::poll_until;

std::optional<State> state_of(const Gossip& g, const std::string& id) {
  for (const swim::MemberInfo& info : *g.members()) {
    if (info.member.id == id) return info.state;
  }
  return std::nullopt;
}

// Three gossip nodes g1..g3 on ephemeral loopback ports; g2 and g3 know only g1's address.
struct Trio {
  SystemClock clock;
  MetricsRegistry metrics[3];
  IoRunner io;
  std::vector<std::unique_ptr<Gossip>> nodes;
  std::shared_ptr<std::atomic<int>> g1_saw_g3_dead = std::make_shared<std::atomic<int>>(0);

  Trio() {
    std::string seed;
    for (int i = 0; i < 3; ++i) {
      GossipOptions o;
      o.config.self = Member{"g" + std::to_string(i + 1), "127.0.0.1:0",
                             "127.0.0.1:" + std::to_string(18081 + i)};
      if (!seed.empty()) o.config.seeds = {seed};
      nodes.push_back(std::make_unique<Gossip>(io.io(), o, &clock, &metrics[i]));
      if (i == 0) {
        auto counter = g1_saw_g3_dead;
        nodes[0]->on_change([counter](const swim::Change& c) {
          if (c.member.id == "g3" && c.new_state == State::kDead) ++*counter;
        });
      }
      REQUIRE(nodes[i]->start().ok());
      if (i == 0) seed = nodes[0]->self().peer_address;
    }
  }
  ~Trio() {
    for (auto& n : nodes) n->stop();
    io.stop();
  }
  Gossip& g(int i) { return *nodes[i - 1]; }
  bool all_see(const std::vector<int>& observers, int subject, State state) {
    for (int o : observers) {
      if (state_of(g(o), "g" + std::to_string(subject)) != state) return false;
    }
    return true;
  }
  bool converged() {
    for (int s = 1; s <= 3; ++s) {
      if (!all_see({1, 2, 3}, s, State::kAlive)) return false;
    }
    return true;
  }
};

}  // namespace

TEST_CASE("swim gossip: three nodes on loopback converge and a stopped node is declared dead") {
  Trio trio;
  REQUIRE(trio.g(1).self().peer_address != "127.0.0.1:0");  // the ephemeral port is advertised
  REQUIRE(poll_until([&] { return trio.converged(); }));

  const auto stopped_at = std::chrono::steady_clock::now();
  trio.g(3).stop();
  REQUIRE(poll_until([&] { return trio.all_see({1, 2}, 3, State::kDead); }));
  const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - stopped_at)
                           .count();
  // Bound from gossip.h for n = 3: (2n - 2) * 200 + 1000 + 3 * 50 = 1950 ms; allow for a loaded
  // machine's scheduling on top.
  std::cerr << "swim gossip: stopped node declared dead by both others in " << took_ms << " ms\n";
  CHECK(took_ms < 6'000);
  CHECK(trio.all_see({1, 2}, 1, State::kAlive));
  CHECK(trio.all_see({1, 2}, 2, State::kAlive));
  CHECK(poll_until([&] { return trio.g1_saw_g3_dead->load() == 1; }));

  const std::string text = trio.metrics[0].render();
  CHECK(text.find("chorus_gossip_members{state=\"dead\"} 1") != std::string::npos);
  CHECK(text.find("chorus_gossip_members{state=\"alive\"} 2") != std::string::npos);
  CHECK(text.find("chorus_gossip_datagrams_received_total") != std::string::npos);
  CHECK(text.find("chorus_gossip_probes_failed_total") != std::string::npos);
}

TEST_CASE("swim gossip: blocked peers are cut off and come back alive once unblocked") {
  Trio trio;
  REQUIRE(poll_until([&] { return trio.converged(); }));
  const std::string g3 = trio.g(3).self().peer_address;
  trio.g(1).set_blocked_peers({g3});
  trio.g(2).set_blocked_peers({g3});
  REQUIRE(poll_until([&] { return trio.all_see({1, 2}, 3, State::kDead); }));
  REQUIRE(poll_until([&] { return trio.all_see({3}, 1, State::kDead); }));
  trio.g(1).set_blocked_peers({});
  trio.g(2).set_blocked_peers({});
  // Dead-member probes find each other again; g3 refutes with a higher incarnation.
  REQUIRE(poll_until([&] { return trio.converged(); }));
  CHECK(trio.metrics[0].render().find("reason=\"blocked\"") != std::string::npos);
}

TEST_CASE("swim gossip: start reports a port in use or a bad address as a Status") {
  SystemClock clock;
  MetricsRegistry metrics;
  IoRunner io;
  boost::asio::ip::udp::socket taken(io.io());
  taken.open(boost::asio::ip::udp::v4());
  taken.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = taken.local_endpoint().port();

  GossipOptions busy;
  busy.config.self = Member{"a", "127.0.0.1:" + std::to_string(port), ""};
  Gossip g1(io.io(), busy, &clock, &metrics);
  Status st = g1.start();
  CHECK(st.code() == Status::Code::kIOError);

  GossipOptions bad;
  bad.config.self = Member{"b", "no-port-here", ""};
  Gossip g2(io.io(), bad, &clock, &metrics);
  CHECK(g2.start().code() == Status::Code::kInvalidArgument);

  GossipOptions fine;
  fine.config.self = Member{"c", "127.0.0.1:0", ""};
  Gossip g3(io.io(), fine, &clock, &metrics);
  CHECK(g3.members()->empty());  // never null, even before start
  REQUIRE(g3.start().ok());
  CHECK(g3.start().code() == Status::Code::kInvalidArgument);  // only once
  REQUIRE(poll_until([&] { return g3.members()->size() == 1; }));
  g3.stop();
  g3.stop();  // idempotent
}
