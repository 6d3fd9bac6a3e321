#include "core/status.h"

namespace chorus {

const char* Status::code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NotFound";
    case Code::kCorruption:
      return "Corruption";
    case Code::kIOError:
      return "IOError";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kTimeout:
      return "Timeout";
    case Code::kTooLarge:
      return "TooLarge";
    case Code::kBusy:
      return "Busy";
    case Code::kPermissionDenied:
      return "PermissionDenied";
  }
  return "Unknown";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  std::string out = code_name(code_);
  if (!message_.empty()) out += ": " + message_;
  return out;
}

}  // namespace chorus
