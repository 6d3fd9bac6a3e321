// SWIM wire messages: what one gossip datagram carries, and its strict binary codec.
//
// Every datagram is `version:u8 type:u8 body`, integers as varints, strings length-prefixed:
//   ping      seq sender target_id updates       (target_id "" = whoever listens: a seed ping)
//   ping-req  seq sender target_id target_address updates
//   ack       seq sender updates
//   join      sender updates                     (answered with sync datagrams)
//   sync      sender updates                     (a chunk of the sender's member table)
//   sender  = id peer_address http_address incarnation
//   updates = count (state:u8 id peer_address http_address incarnation)*
// Every message names its sender with the sender's own incarnation, so any datagram doubles as an
// alive claim, and carries piggybacked member updates (the dissemination of SWIM §4).
//
// decode() trusts nothing: it checks the version, the type, every length against limits.h, the
// state byte, that ids and peer addresses are non-empty, and that no byte is left over. Malformed
// input returns Corruption and is never partially applied. encode() requires fields within the same
// bounds (valid_member); a violation is a programming error and aborts.
//
// Thread-safety: pure functions and values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "membership/swim/limits.h"
#include "ring/ring.h"

namespace chorus::swim {

// A member's liveness as one node sees it (SWIM §4.2, memberlist's StateAlive/Suspect/Dead).
enum class State : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2 };
const char* state_name(State state);

// A claim about one member: "`member` is `state` at `incarnation`".
struct Update {
  State state = State::kAlive;
  Member member;
  uint64_t incarnation = 0;
};

enum class MessageType : uint8_t { kPing = 1, kPingReq = 2, kAck = 3, kJoin = 4, kSync = 5 };
const char* message_type_name(MessageType type);

struct Message {
  MessageType type = MessageType::kPing;
  uint64_t seq = 0;  // ping, ping-req, ack: matches an ack to its probe
  Member sender;
  uint64_t sender_incarnation = 0;
  std::string target_id;       // ping (empty: any node), ping-req (the member to probe)
  std::string target_address;  // ping-req only
  std::vector<Update> updates;
};

// True when the id is 1..kMaxIdBytes bytes, the peer address 1..kMaxAddressBytes and the http
// address 0..kMaxAddressBytes.
bool valid_member(const Member& m);
bool same_addresses(const Member& a, const Member& b);

// Bytes one update adds to a datagram.
size_t encoded_size(const Update& u);
// Bytes of the message without its updates but with a worst-case update count: the piggyback
// budget is kMaxDatagramBytes minus this.
size_t encoded_header_size(const Message& m);

// The datagram for `m`. Requires valid fields (aborts otherwise); the result may exceed
// kMaxDatagramBytes only if the caller added more updates than the budget allows (callers check).
std::string encode(const Message& m);
// Parses a datagram; Corruption("...why...") for anything malformed or over the limits.
Result<Message> decode(std::string_view datagram);

}  // namespace chorus::swim
