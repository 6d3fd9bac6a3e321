#include "membership/swim/messages.h"

#include <cstdio>
#include <cstdlib>

#include "core/assert.h"
#include "core/coding.h"

namespace chorus::swim {
namespace {

size_t varint_bytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t length_prefixed_bytes(const std::string& s) {
  return varint_bytes(s.size()) + s.size();
}

size_t member_bytes(const Member& m, uint64_t incarnation) {
  return length_prefixed_bytes(m.id) + length_prefixed_bytes(m.peer_address) +
         length_prefixed_bytes(m.http_address) + varint_bytes(incarnation);
}

bool has_seq(MessageType t) {
  return t == MessageType::kPing || t == MessageType::kPingReq || t == MessageType::kAck;
}
bool has_target_id(MessageType t) {
  return t == MessageType::kPing || t == MessageType::kPingReq;
}

// Broken caller invariants crash loudly (STYLE.md); encode() is never fed remote input.
void require(bool condition, const char* what) {
  if (!condition) ::chorus::detail::assert_failed("swim::encode", what, __FILE__, __LINE__);
}

void put_member(std::string* out, const Member& m, uint64_t incarnation) {
  require(valid_member(m), "member fields out of bounds");
  put_length_prefixed(out, m.id);
  put_length_prefixed(out, m.peer_address);
  put_length_prefixed(out, m.http_address);
  put_varint64(out, incarnation);
}

bool get_string(Reader* in, size_t min_bytes, size_t max_bytes, std::string* out) {
  std::string_view v;
  if (!in->get_length_prefixed(&v, max_bytes) || v.size() < min_bytes) return false;
  out->assign(v.data(), v.size());
  return true;
}

bool get_member(Reader* in, Member* m, uint64_t* incarnation) {
  return get_string(in, 1, kMaxIdBytes, &m->id) &&
         get_string(in, 1, kMaxAddressBytes, &m->peer_address) &&
         get_string(in, 0, kMaxAddressBytes, &m->http_address) && in->get_varint64(incarnation);
}

bool get_updates(Reader* in, std::vector<Update>* updates) {
  uint64_t count = 0;
  if (!in->get_varint64(&count) || count > kMaxUpdatesPerDatagram) return false;
  // Each update takes at least kMinUpdateBytes, so a lying count fails before allocating much.
  if (count * kMinUpdateBytes > in->remaining()) return false;
  updates->resize(static_cast<size_t>(count));
  for (Update& u : *updates) {
    uint8_t state = 0;
    if (!in->get_u8(&state) || state > static_cast<uint8_t>(State::kDead)) return false;
    u.state = static_cast<State>(state);
    if (!get_member(in, &u.member, &u.incarnation)) return false;
  }
  return true;
}

}  // namespace

const char* state_name(State state) {
  switch (state) {
    case State::kAlive:
      return "alive";
    case State::kSuspect:
      return "suspect";
    case State::kDead:
      return "dead";
  }
  return "unknown";
}

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kPing:
      return "ping";
    case MessageType::kPingReq:
      return "ping-req";
    case MessageType::kAck:
      return "ack";
    case MessageType::kJoin:
      return "join";
    case MessageType::kSync:
      return "sync";
  }
  return "unknown";
}

bool valid_member(const Member& m) {
  return !m.id.empty() && m.id.size() <= kMaxIdBytes && !m.peer_address.empty() &&
         m.peer_address.size() <= kMaxAddressBytes && m.http_address.size() <= kMaxAddressBytes;
}

bool same_addresses(const Member& a, const Member& b) {
  return a.peer_address == b.peer_address && a.http_address == b.http_address;
}

size_t encoded_size(const Update& u) {
  return 1 + member_bytes(u.member, u.incarnation);
}

size_t encoded_header_size(const Message& m) {
  size_t n = 2 + member_bytes(m.sender, m.sender_incarnation) + kVarint14Bytes;
  if (has_seq(m.type)) n += varint_bytes(m.seq);
  if (has_target_id(m.type)) n += length_prefixed_bytes(m.target_id);
  if (m.type == MessageType::kPingReq) n += length_prefixed_bytes(m.target_address);
  return n;
}

std::string encode(const Message& m) {
  require(m.updates.size() <= kMaxUpdatesPerDatagram, "too many updates");
  require(m.target_id.size() <= kMaxIdBytes, "target id too long");
  require(m.target_address.size() <= kMaxAddressBytes, "target address too long");
  std::string out;
  out.reserve(kMaxDatagramBytes);
  out.push_back(static_cast<char>(kWireVersion));
  out.push_back(static_cast<char>(m.type));
  if (has_seq(m.type)) put_varint64(&out, m.seq);
  put_member(&out, m.sender, m.sender_incarnation);
  if (has_target_id(m.type)) put_length_prefixed(&out, m.target_id);
  if (m.type == MessageType::kPingReq) {
    require(!m.target_id.empty() && !m.target_address.empty(), "ping-req without a target");
    put_length_prefixed(&out, m.target_address);
  }
  put_varint64(&out, m.updates.size());
  for (const Update& u : m.updates) {
    out.push_back(static_cast<char>(u.state));
    put_member(&out, u.member, u.incarnation);
  }
  return out;
}

Result<Message> decode(std::string_view datagram) {
  if (datagram.size() > kMaxDatagramBytes) return Status::Corruption("datagram too large");
  Reader in(datagram);
  uint8_t version = 0, type = 0;
  if (!in.get_u8(&version) || !in.get_u8(&type)) return Status::Corruption("truncated header");
  if (version != kWireVersion) return Status::Corruption("unknown wire version");
  if (type < static_cast<uint8_t>(MessageType::kPing) ||
      type > static_cast<uint8_t>(MessageType::kSync)) {
    return Status::Corruption("unknown message type");
  }
  Message m;
  m.type = static_cast<MessageType>(type);
  if (has_seq(m.type) && !in.get_varint64(&m.seq)) return Status::Corruption("bad sequence");
  if (!get_member(&in, &m.sender, &m.sender_incarnation)) return Status::Corruption("bad sender");
  if (m.type == MessageType::kPing && !get_string(&in, 0, kMaxIdBytes, &m.target_id)) {
    return Status::Corruption("bad ping target");
  }
  if (m.type == MessageType::kPingReq &&
      (!get_string(&in, 1, kMaxIdBytes, &m.target_id) ||
       !get_string(&in, 1, kMaxAddressBytes, &m.target_address))) {
    return Status::Corruption("bad ping-req target");
  }
  if (!get_updates(&in, &m.updates)) return Status::Corruption("bad updates");
  if (in.remaining() != 0) return Status::Corruption("trailing bytes");
  return m;
}

}  // namespace chorus::swim
