#include "core/coding.h"
#include "membership/raft/messages.h"

namespace chorus::raft {

namespace {
// Version byte first so the encoding can grow without guessing.
constexpr uint8_t kConfChangeVersion = 1;
// The context is an application command (membership metadata); bounded like any proposal.
constexpr size_t kConfChangeContextBytesMax = 64 * 1024;
}  // namespace

std::string encode_conf_change(const ConfChange& cc) {
  std::string out;
  out.push_back(static_cast<char>(kConfChangeVersion));
  out.push_back(static_cast<char>(cc.type));
  put_fixed64(&out, cc.node);
  put_length_prefixed(&out, cc.context);
  return out;
}

bool decode_conf_change(std::string_view data, ConfChange* out) {
  Reader in(data);
  uint8_t version = 0;
  uint8_t type = 0;
  uint64_t node = 0;
  std::string_view context;
  if (!in.get_u8(&version) || version != kConfChangeVersion || !in.get_u8(&type) ||
      type > static_cast<uint8_t>(ConfChangeType::kRemoveNode) || !in.get_fixed64(&node) ||
      node == kNoNode || !in.get_length_prefixed(&context, kConfChangeContextBytesMax) ||
      in.remaining() != 0) {
    return false;
  }
  out->type = static_cast<ConfChangeType>(type);
  out->node = node;
  out->context = std::string(context);
  return true;
}

}  // namespace chorus::raft
