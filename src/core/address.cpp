#include "core/address.h"

#include <charconv>

namespace chorus {

Status parse_host_port(const std::string& address, std::string* host, uint16_t* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("address '" + address + "' is not host:port");
  }
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const char* begin = address.data() + colon + 1;
  const char* end = address.data() + address.size();
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (begin == end || ec != std::errc() || ptr != end || value > 65535) {
    return Status::InvalidArgument("address '" + address + "' has no valid port");
  }
  *host = std::move(h);
  *port = static_cast<uint16_t>(value);
  return Status::OK();
}

}  // namespace chorus
