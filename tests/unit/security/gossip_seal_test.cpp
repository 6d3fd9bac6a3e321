// Sealed gossip datagrams: round trip, tampering, wrong keys, key rotation, and the replay window.
#include <catch2/catch.hpp>

#include "core/text.h"
#include "security/gossip_seal.h"

using namespace chorus::security;
using chorus::Result;

namespace {

std::shared_ptr<const GossipKeyring> ring(const std::string& text) {
  Result<GossipKeyring> parsed = GossipKeyring::parse(text);
  REQUIRE(parsed.ok());
  return std::make_shared<const GossipKeyring>(std::move(parsed).value());
}

}  // namespace

TEST_CASE("a keyring is one base64 32-byte key a line", "[security]") {
  const std::string k1 = GossipKeyring::generate_key();
  const std::string k2 = GossipKeyring::generate_key();
  CHECK(k1 != k2);
  auto parsed = GossipKeyring::parse("# comment\n\n" + k1 + "\r\n  " + k2 + "  \n");
  REQUIRE(parsed.ok());
  CHECK(parsed->keys().size() == 2);

  CHECK_THAT(GossipKeyring::parse("").status().message(), Catch::Contains("no key"));
  CHECK_THAT(GossipKeyring::parse("# only a comment\n").status().message(),
             Catch::Contains("no key"));
  CHECK_THAT(GossipKeyring::parse(k1 + "\nnot base64!\n").status().message(),
             Catch::Contains("line 2 is not base64"));
  CHECK_THAT(GossipKeyring::parse(chorus::base64_encode("sixteen bytes!!!")).status().message(),
             Catch::Contains("16 bytes"));
}

TEST_CASE("sealed datagrams open under the same ring and nowhere else", "[security]") {
  const std::string k1 = GossipKeyring::generate_key();
  const std::string k2 = GossipKeyring::generate_key();
  GossipSealer sender(ring(k1));
  GossipSealer receiver(ring(k1));
  GossipSealer stranger(ring(k2));

  const std::string payload = "swim ping payload";
  const std::string sealed = sender.seal(payload);
  CHECK(sealed.size() == payload.size() + kSealOverheadBytes);
  CHECK(sealed.find(payload) == std::string::npos);  // encrypted, not only signed
  CHECK(sender.seal(payload) != sealed);             // fresh nonce each time

  auto opened = receiver.open(sealed);
  REQUIRE(opened.outcome == GossipSealer::Outcome::kOpened);
  CHECK(opened.payload == payload);
  CHECK(stranger.open(sender.seal(payload)).outcome == GossipSealer::Outcome::kUnauthentic);

  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string tampered = sender.seal(payload);
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    const auto outcome = receiver.open(tampered).outcome;
    INFO("flipped byte " << i);
    CHECK((outcome == GossipSealer::Outcome::kUnauthentic ||
           outcome == GossipSealer::Outcome::kMalformed));
  }
  CHECK(receiver.open("").outcome == GossipSealer::Outcome::kMalformed);
  CHECK(receiver.open(payload).outcome == GossipSealer::Outcome::kMalformed);  // plain SWIM
  CHECK(receiver.open(sealed.substr(0, kSealOverheadBytes - 1)).outcome ==
        GossipSealer::Outcome::kMalformed);
}

TEST_CASE("keys rotate: the first seals, every key opens", "[security]") {
  const std::string old_key = GossipKeyring::generate_key();
  const std::string new_key = GossipKeyring::generate_key();
  GossipSealer old_node(ring(old_key));
  GossipSealer both(ring(old_key + "\n" + new_key));      // step 1: new key added second
  GossipSealer new_node(ring(new_key + "\n" + old_key));  // step 2: new key first

  CHECK(both.open(old_node.seal("a")).outcome == GossipSealer::Outcome::kOpened);
  CHECK(both.open(new_node.seal("b")).outcome == GossipSealer::Outcome::kOpened);
  CHECK(new_node.open(old_node.seal("c")).outcome == GossipSealer::Outcome::kOpened);
  CHECK(old_node.open(new_node.seal("d")).outcome == GossipSealer::Outcome::kUnauthentic);

  // Step 3: the old key is removed by swapping the ring in place.
  both.set_keyring(ring(new_key));
  CHECK(both.open(old_node.seal("e")).outcome == GossipSealer::Outcome::kUnauthentic);
  CHECK(both.open(new_node.seal("f")).outcome == GossipSealer::Outcome::kOpened);
}

TEST_CASE("a replayed datagram is refused but reordering within the window is not", "[security]") {
  const std::string key = GossipKeyring::generate_key();
  GossipSealer sender(ring(key));
  GossipSealer receiver(ring(key));
  std::vector<std::string> sent;
  for (int i = 0; i < 200; ++i) sent.push_back(sender.seal("m" + std::to_string(i)));

  CHECK(receiver.open(sent[10]).outcome == GossipSealer::Outcome::kOpened);
  CHECK(receiver.open(sent[10]).outcome == GossipSealer::Outcome::kReplayed);
  CHECK(receiver.open(sent[3]).outcome == GossipSealer::Outcome::kOpened);  // late, within window
  CHECK(receiver.open(sent[3]).outcome == GossipSealer::Outcome::kReplayed);
  CHECK(receiver.open(sent[150]).outcome == GossipSealer::Outcome::kOpened);
  CHECK(receiver.open(sent[150 - kReplayWindow]).outcome == GossipSealer::Outcome::kReplayed);
  CHECK(receiver.open(sent[150 - kReplayWindow + 1]).outcome == GossipSealer::Outcome::kOpened);
  CHECK(receiver.open(sent[149]).outcome == GossipSealer::Outcome::kOpened);
  CHECK(receiver.open(sent[149]).outcome == GossipSealer::Outcome::kReplayed);

  // A restarted sender is a new instance: its first datagrams are accepted.
  GossipSealer restarted(ring(key));
  CHECK(receiver.open(restarted.seal("hello again")).outcome == GossipSealer::Outcome::kOpened);
}
