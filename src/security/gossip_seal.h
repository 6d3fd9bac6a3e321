// Sealed gossip (DESIGN.md §10): every SWIM datagram is encrypted and authenticated with
// AES-256-GCM under a shared keyring, and replays are refused.
//
// GossipKeyring is the --gossip-key file: one base64 32-byte key per line (blank lines and lines
// starting with '#' are ignored). The first key seals; every key opens, so a key is rotated in
// three steps, as with Consul/memberlist: add the new key second on every node, move it first on
// every node, then remove the old one.
//
// A sealed datagram is
//   version:u8 (kSealVersion) | nonce:12 | AES-256-GCM( instance:u64 | sequence:u64 | payload ) |
//   tag:16
// with the version byte as additional authenticated data and a fresh random nonce per datagram.
// `instance` is random per GossipSealer (per process start) and `sequence` counts up from 1, so a
// receiver keeps, per sending instance, the highest sequence seen and a 64-wide window below it
// (IPsec's anti-replay window): a datagram seen before, or older than the window, is refused. That
// state is bounded (kReplayInstancesMax sending instances, least recently heard evicted); an
// evicted or never-seen instance starts afresh, so a datagram recorded before this node started
// can be replayed once. SWIM tolerates that: updates carry incarnations (old ones are ignored) and
// acks carry probe sequence numbers (an old ack matches no probe).
//
// Thread-safety: GossipKeyring is immutable. GossipSealer's seal()/open() must run on one strand
// (the gossip strand); set_keyring() may be called from any thread (an atomically swapped
// snapshot), and keeps the replay state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace chorus::security {

constexpr size_t kGossipKeyBytes = 32;  // AES-256
constexpr size_t kGossipKeysMax = 16;
constexpr size_t kGossipKeyFileBytesMax = 64 * 1024;
constexpr uint8_t kSealVersion = 0xC1;  // distinct from every plain SWIM wire version
constexpr size_t kSealNonceBytes = 12;
constexpr size_t kSealTagBytes = 16;
constexpr size_t kSealHeaderBytes = 8 + 8;  // instance, sequence
constexpr size_t kSealOverheadBytes = 1 + kSealNonceBytes + kSealHeaderBytes + kSealTagBytes;
constexpr size_t kReplayWindow = 64;  // sequences below the highest one still accepted once
constexpr size_t kReplayInstancesMax = 4096;

using GossipKey = std::array<uint8_t, kGossipKeyBytes>;

class GossipKeyring {
 public:
  // InvalidArgument names the line that is not base64 of exactly 32 bytes, or says the ring is
  // empty or has more than kGossipKeysMax keys.
  [[nodiscard]] static Result<GossipKeyring> parse(std::string_view text);
  // Reads and parses a key file; the error names the path.
  [[nodiscard]] static Result<GossipKeyring> load(const std::string& path);
  // A new random key, base64 (one line of a key file).
  static std::string generate_key();

  const GossipKey& primary() const { return keys_.front(); }
  const std::vector<GossipKey>& keys() const { return keys_; }

 private:
  std::vector<GossipKey> keys_;  // never empty
};

class GossipSealer {
 public:
  enum class Outcome { kOpened, kMalformed, kUnauthentic, kReplayed };
  struct Opened {
    Outcome outcome = Outcome::kMalformed;
    std::string payload;  // set when kOpened
  };

  explicit GossipSealer(std::shared_ptr<const GossipKeyring> keyring);

  // The sealed form of `payload` (kSealOverheadBytes longer), under the primary key.
  std::string seal(std::string_view payload);
  // Opens a datagram sealed by any key of the ring, and checks it against the replay window.
  Opened open(std::string_view datagram);

  void set_keyring(std::shared_ptr<const GossipKeyring> keyring);
  std::shared_ptr<const GossipKeyring> keyring() const;

 private:
  struct Window {
    uint64_t highest = 0;
    uint64_t seen = 0;  // bit i: highest - i was seen
    uint64_t last_heard = 0;
  };
  // True (and recorded) when (instance, sequence) was not seen before.
  bool admit(uint64_t instance, uint64_t sequence);

  std::shared_ptr<const GossipKeyring> keyring_;  // std::atomic_load/store
  const uint64_t instance_;
  uint64_t next_sequence_ = 1;
  uint64_t opened_ = 0;  // logical time for least-recently-heard eviction
  std::unordered_map<uint64_t, Window> windows_;
};

}  // namespace chorus::security
