// Internode RPC frames: the wire format and a sans-I/O incremental decoder.
//
// A frame is
//   fixed32 length of the rest | u8 kind | fixed64 request id | fixed16 method
//   | u8 status code (responses only) | payload
// All integers are little-endian. A response carries the request's id and method; a non-OK response
// carries the error message as its payload. The status code byte is the numeric Status::Code,
// pinned by static_asserts in frame.cpp so reordering the enum cannot silently change the wire.
//
// Internal to src/net. Encoding functions are pure and thread-safe. A FrameDecoder is a plain value
// owned by one connection and used from one strand. A decode error (a length above the frame limit,
// an unknown kind or status code, a frame shorter than its header) is final: the connection that
// fed the bytes must be closed, since its stream can no longer be trusted to be aligned on frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace chorus {

enum class FrameKind : uint8_t { kRequest = 1, kResponse = 2 };

constexpr size_t kFrameLengthBytes = 4;
// Bytes after the length field and before the payload.
constexpr size_t kRequestHeaderBytes = 1 + 8 + 2;
constexpr size_t kResponseHeaderBytes = kRequestHeaderBytes + 1;
// Error messages travel in the payload; they are cut to this so an error never needs a big frame.
constexpr size_t kErrorMessageBytesMax = 4096;

struct Frame {
  FrameKind kind = FrameKind::kRequest;
  uint64_t request_id = 0;
  uint16_t method = 0;
  Status::Code status_code = Status::Code::kOk;  // responses only
  std::string payload;
};

// Largest payload a request (or response) frame can carry under `frame_bytes_max`.
size_t request_payload_bytes_max(size_t frame_bytes_max);
size_t response_payload_bytes_max(size_t frame_bytes_max);

std::string encode_request(uint64_t request_id, uint16_t method, std::string_view payload);
// For a non-OK `status`, the payload is replaced by the status message (cut to
// kErrorMessageBytesMax).
std::string encode_response(uint64_t request_id, uint16_t method, const Status& status,
                            std::string_view payload);

// The Status a response frame stands for: OK, or its code with the payload as the message.
Status response_status(const Frame& frame);

// Builds a Status from a code and message (Status itself only has one factory per code).
Status make_status(Status::Code code, std::string message);

// Reassembles frames from a byte stream read in arbitrary pieces. Usage: read into prepare(n), then
// commit(bytes_read), then call next() until it yields no frame. The buffer grows to hold one whole
// frame (at most frame_bytes_max + kFrameLengthBytes plus one read) and shrinks back when drained.
class FrameDecoder {
 public:
  // Buffer kept between frames; a larger one (after a big frame) is released once drained.
  static constexpr size_t kRetainedBufferBytesMax = 256 * 1024;

  explicit FrameDecoder(size_t frame_bytes_max) : frame_bytes_max_(frame_bytes_max) {}

  // At least `n` writable bytes after the buffered input. The pointer stays valid, and buffered
  // bytes stay in place, until the next prepare(); next() never moves memory.
  char* prepare(size_t n);
  void commit(size_t n);
  // Bytes still missing before the frame being assembled is complete (0 when none is partial or the
  // header is already known to be bad: next() reports that).
  size_t bytes_needed() const;
  // Decodes the next complete frame into *frame, or leaves it empty when more input is needed.
  // Returns TooLarge for a length above the limit, Corruption for a malformed frame.
  [[nodiscard]] Status next(std::optional<Frame>* frame);

 private:
  size_t frame_bytes_max_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;  // first unconsumed byte
  size_t end_ = 0;    // one past the last committed byte
};

}  // namespace chorus
