#include "net/frame.h"

#include <algorithm>
#include <cstring>

#include "core/assert.h"
#include "core/coding.h"
#include "core/limits.h"

namespace chorus {

// The status byte on the wire is the numeric Status::Code. Peers of different builds must agree, so
// the values are pinned here: a reordered enum breaks the build instead of the protocol.
static_assert(static_cast<uint8_t>(Status::Code::kOk) == 0);
static_assert(static_cast<uint8_t>(Status::Code::kNotFound) == 1);
static_assert(static_cast<uint8_t>(Status::Code::kCorruption) == 2);
static_assert(static_cast<uint8_t>(Status::Code::kIOError) == 3);
static_assert(static_cast<uint8_t>(Status::Code::kInvalidArgument) == 4);
static_assert(static_cast<uint8_t>(Status::Code::kUnavailable) == 5);
static_assert(static_cast<uint8_t>(Status::Code::kTimeout) == 6);
static_assert(static_cast<uint8_t>(Status::Code::kTooLarge) == 7);
static_assert(static_cast<uint8_t>(Status::Code::kBusy) == 8);
static_assert(static_cast<uint8_t>(Status::Code::kPermissionDenied) == 9);
constexpr uint8_t kStatusCodeMax = 9;

static_assert(kFrameBytesMax > kResponseHeaderBytes + kErrorMessageBytesMax,
              "an error response must always fit a frame");

size_t request_payload_bytes_max(size_t frame_bytes_max) {
  return frame_bytes_max > kRequestHeaderBytes ? frame_bytes_max - kRequestHeaderBytes : 0;
}

size_t response_payload_bytes_max(size_t frame_bytes_max) {
  return frame_bytes_max > kResponseHeaderBytes ? frame_bytes_max - kResponseHeaderBytes : 0;
}

namespace {
std::string encode_header(FrameKind kind, size_t rest_bytes, uint64_t request_id, uint16_t method) {
  std::string out;
  out.reserve(kFrameLengthBytes + rest_bytes);
  put_fixed32(&out, static_cast<uint32_t>(rest_bytes));
  out.push_back(static_cast<char>(kind));
  put_fixed64(&out, request_id);
  put_fixed16(&out, method);
  return out;
}
}  // namespace

std::string encode_request(uint64_t request_id, uint16_t method, std::string_view payload) {
  std::string out =
      encode_header(FrameKind::kRequest, kRequestHeaderBytes + payload.size(), request_id, method);
  out.append(payload.data(), payload.size());
  return out;
}

std::string encode_response(uint64_t request_id, uint16_t method, const Status& status,
                            std::string_view payload) {
  if (!status.ok()) {
    payload = std::string_view(status.message()).substr(0, kErrorMessageBytesMax);
  }
  std::string out = encode_header(FrameKind::kResponse, kResponseHeaderBytes + payload.size(),
                                  request_id, method);
  out.push_back(static_cast<char>(status.code()));
  out.append(payload.data(), payload.size());
  return out;
}

Status make_status(Status::Code code, std::string message) {
  switch (code) {
    case Status::Code::kOk:
      return Status::OK();
    case Status::Code::kNotFound:
      return Status::NotFound(std::move(message));
    case Status::Code::kCorruption:
      return Status::Corruption(std::move(message));
    case Status::Code::kIOError:
      return Status::IOError(std::move(message));
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case Status::Code::kUnavailable:
      return Status::Unavailable(std::move(message));
    case Status::Code::kTimeout:
      return Status::Timeout(std::move(message));
    case Status::Code::kTooLarge:
      return Status::TooLarge(std::move(message));
    case Status::Code::kBusy:
      return Status::Busy(std::move(message));
    case Status::Code::kPermissionDenied:
      return Status::PermissionDenied(std::move(message));
  }
  return Status::Corruption("unknown status code: " + message);
}

Status response_status(const Frame& frame) {
  if (frame.status_code == Status::Code::kOk) return Status::OK();
  return make_status(frame.status_code, frame.payload);
}

char* FrameDecoder::prepare(size_t n) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (capacity_ > kRetainedBufferBytesMax && n <= kRetainedBufferBytesMax) {
      buffer_.reset();
      capacity_ = 0;
    }
  }
  if (capacity_ - end_ >= n) return buffer_.get() + end_;
  const size_t buffered = end_ - begin_;
  if (capacity_ - buffered >= n) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, buffered);
  } else {
    // Grow geometrically so a large frame read in chunks is not copied once per chunk.
    const size_t capacity = std::max(buffered + n, capacity_ * 2);
    std::unique_ptr<char[]> grown(new char[capacity]);
    if (buffered > 0) std::memcpy(grown.get(), buffer_.get() + begin_, buffered);
    buffer_ = std::move(grown);
    capacity_ = capacity;
  }
  begin_ = 0;
  end_ = buffered;
  return buffer_.get() + end_;
}

void FrameDecoder::commit(size_t n) {
  CHORUS_ASSERT(end_ + n <= capacity_, "commit beyond prepare()");
  end_ = std::min(end_ + n, capacity_);
}

size_t FrameDecoder::bytes_needed() const {
  const size_t buffered = end_ - begin_;
  if (buffered < kFrameLengthBytes) return kFrameLengthBytes - buffered;
  const uint32_t length = decode_fixed32(buffer_.get() + begin_);
  if (length > frame_bytes_max_) return 0;
  const size_t total = kFrameLengthBytes + length;
  return total > buffered ? total - buffered : 0;
}

Status FrameDecoder::next(std::optional<Frame>* frame) {
  frame->reset();
  const size_t buffered = end_ - begin_;
  if (buffered < kFrameLengthBytes) return Status::OK();
  const uint32_t length = decode_fixed32(buffer_.get() + begin_);
  if (length > frame_bytes_max_) {
    return Status::TooLarge("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                            std::to_string(frame_bytes_max_));
  }
  if (length < kRequestHeaderBytes) {
    return Status::Corruption("frame of " + std::to_string(length) + " bytes is below its header");
  }
  if (buffered < kFrameLengthBytes + length) return Status::OK();

  Reader reader(std::string_view(buffer_.get() + begin_ + kFrameLengthBytes, length));
  Frame out;
  uint8_t kind = 0;
  bool ok = reader.get_u8(&kind) && reader.get_fixed64(&out.request_id) &&
            reader.get_fixed16(&out.method);
  if (ok && kind == static_cast<uint8_t>(FrameKind::kResponse)) {
    uint8_t code = 0;
    ok = reader.get_u8(&code) && code <= kStatusCodeMax;
    out.status_code = static_cast<Status::Code>(code);
  } else if (ok && kind != static_cast<uint8_t>(FrameKind::kRequest)) {
    ok = false;
  }
  if (!ok) return Status::Corruption("malformed frame header (kind " + std::to_string(kind) + ")");
  out.kind = static_cast<FrameKind>(kind);
  out.payload.assign(reader.rest().data(), reader.rest().size());
  begin_ += kFrameLengthBytes + length;
  *frame = std::move(out);
  return Status::OK();
}

}  // namespace chorus
