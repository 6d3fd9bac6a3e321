// Wire format, incremental decoding, reconnect backoff and address parsing: the sans-I/O parts of
// the transport.
#include <catch2/catch.hpp>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/coding.h"
#include "net/backoff.h"
#include "net/frame.h"

namespace chorus {
namespace {

void feed(FrameDecoder* decoder, const std::string& bytes) {
  char* out = decoder->prepare(bytes.size());
  std::memcpy(out, bytes.data(), bytes.size());
  decoder->commit(bytes.size());
}

std::string raw_frame(uint32_t length, uint8_t kind, const std::string& rest) {
  std::string out;
  put_fixed32(&out, length);
  out.push_back(static_cast<char>(kind));
  out += rest;
  return out;
}

}  // namespace

TEST_CASE("a request frame decodes to what was encoded - fed one byte at a time") {
  const std::string payload("pay\0load", 8);
  const std::string bytes = encode_request(0x0102030405060708ULL, 513, payload);
  REQUIRE(bytes.size() == kFrameLengthBytes + kRequestHeaderBytes + payload.size());

  FrameDecoder decoder(1024);
  std::optional<Frame> frame;
  for (size_t i = 0; i + 1 < bytes.size(); ++i) {
    feed(&decoder, bytes.substr(i, 1));
    REQUIRE(decoder.next(&frame).ok());
    REQUIRE_FALSE(frame.has_value());
    // Until the length is known, only the length's own bytes are known to be missing.
    const size_t fed = i + 1;
    CHECK(decoder.bytes_needed() ==
          (fed < kFrameLengthBytes ? kFrameLengthBytes - fed : bytes.size() - fed));
  }
  feed(&decoder, bytes.substr(bytes.size() - 1));
  REQUIRE(decoder.next(&frame).ok());
  REQUIRE(frame.has_value());
  CHECK(frame->kind == FrameKind::kRequest);
  CHECK(frame->request_id == 0x0102030405060708ULL);
  CHECK(frame->method == 513);
  CHECK(frame->payload == payload);
  CHECK(decoder.bytes_needed() == kFrameLengthBytes);
}

TEST_CASE("responses carry the status code - and errors carry the message as payload") {
  FrameDecoder decoder(1024);
  feed(&decoder, encode_response(7, 3, Status::OK(), "value") +
                     encode_response(8, 3, Status::NotFound("no such key"), "ignored"));
  std::optional<Frame> frame;
  REQUIRE(decoder.next(&frame).ok());
  REQUIRE(frame.has_value());
  CHECK(frame->kind == FrameKind::kResponse);
  CHECK(frame->request_id == 7);
  CHECK(response_status(*frame).ok());
  CHECK(frame->payload == "value");

  REQUIRE(decoder.next(&frame).ok());
  REQUIRE(frame.has_value());
  CHECK(frame->request_id == 8);
  const Status status = response_status(*frame);
  CHECK(status.code() == Status::Code::kNotFound);
  CHECK(status.message() == "no such key");

  REQUIRE(decoder.next(&frame).ok());
  CHECK_FALSE(frame.has_value());
}

TEST_CASE("long error messages are cut so an error always fits a frame") {
  const std::string message(kErrorMessageBytesMax * 2, 'e');
  const std::string bytes = encode_response(1, 1, Status::IOError(message), {});
  CHECK(bytes.size() == kFrameLengthBytes + kResponseHeaderBytes + kErrorMessageBytesMax);
}

TEST_CASE("a frame longer than the limit is rejected from its header alone") {
  FrameDecoder decoder(100);
  std::string header;
  put_fixed32(&header, 101);
  feed(&decoder, header);
  std::optional<Frame> frame;
  const Status status = decoder.next(&frame);
  CHECK(status.code() == Status::Code::kTooLarge);
  CHECK_FALSE(frame.has_value());

  // Exactly at the limit is fine.
  FrameDecoder at_limit(kRequestHeaderBytes + 10);
  feed(&at_limit, encode_request(1, 1, std::string(10, 'x')));
  REQUIRE(at_limit.next(&frame).ok());
  CHECK(frame.has_value());
}

TEST_CASE("malformed frames are Corruption") {
  std::optional<Frame> frame;
  SECTION("length below the header") {
    FrameDecoder decoder(1024);
    feed(&decoder, raw_frame(3, 1, "ab"));
    CHECK(decoder.next(&frame).code() == Status::Code::kCorruption);
  }
  SECTION("unknown kind") {
    FrameDecoder decoder(1024);
    feed(&decoder, raw_frame(kRequestHeaderBytes, 9, std::string(kRequestHeaderBytes - 1, '\0')));
    CHECK(decoder.next(&frame).code() == Status::Code::kCorruption);
  }
  SECTION("unknown status code") {
    FrameDecoder decoder(1024);
    std::string rest(kResponseHeaderBytes - 1, '\0');
    rest.back() = static_cast<char>(200);
    feed(&decoder, raw_frame(kResponseHeaderBytes, 2, rest));
    CHECK(decoder.next(&frame).code() == Status::Code::kCorruption);
  }
  SECTION("a response too short for its status byte") {
    FrameDecoder decoder(1024);
    feed(&decoder, raw_frame(kRequestHeaderBytes, 2, std::string(kRequestHeaderBytes - 1, '\0')));
    CHECK(decoder.next(&frame).code() == Status::Code::kCorruption);
  }
}

TEST_CASE("the decoder reassembles a large frame read in chunks and keeps following frames") {
  const std::string big(300 * 1024, 'b');
  const std::string bytes = encode_request(1, 1, big) + encode_request(2, 1, "small");
  FrameDecoder decoder(1 << 20);
  std::vector<Frame> frames;
  for (size_t offset = 0; offset < bytes.size(); offset += 4096) {
    feed(&decoder, bytes.substr(offset, 4096));
    std::optional<Frame> frame;
    do {
      REQUIRE(decoder.next(&frame).ok());
      if (frame) frames.push_back(std::move(*frame));
    } while (frame);
  }
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].payload == big);
  CHECK(frames[1].request_id == 2);
  CHECK(frames[1].payload == "small");
}

TEST_CASE("reconnect delays grow exponentially - stay within bounds and are jittered") {
  const uint64_t min_ms = 50;
  const uint64_t max_ms = 2000;
  uint64_t previous_low = 0;
  for (uint32_t failures = 1; failures <= 64; ++failures) {
    const uint64_t low = reconnect_delay_ms(min_ms, max_ms, failures, 0);
    const uint64_t high = reconnect_delay_ms(min_ms, max_ms, failures, UINT64_MAX);
    CHECK(low >= min_ms);
    CHECK(high <= max_ms);
    CHECK(low <= high);
    CHECK(low >= previous_low);  // never shrinks as failures accumulate
    previous_low = low;
  }
  // Ceiling doubles: 50, 100, 200, ...; the random part spans its upper half.
  CHECK(reconnect_delay_ms(min_ms, max_ms, 3, 0) == 100);
  CHECK(reconnect_delay_ms(min_ms, max_ms, 3, 100) == 200);
  CHECK(reconnect_delay_ms(min_ms, max_ms, 40, 0) == 1000);
  CHECK(reconnect_delay_ms(min_ms, max_ms, 40, 1000) == 2000);
}

TEST_CASE("host:port parsing") {
  std::string host;
  uint16_t port = 1;
  REQUIRE(parse_host_port("127.0.0.1:7001", &host, &port).ok());
  CHECK(host == "127.0.0.1");
  CHECK(port == 7001);
  REQUIRE(parse_host_port(":0", &host, &port).ok());
  CHECK(host.empty());
  CHECK(port == 0);
  REQUIRE(parse_host_port("[::1]:65535", &host, &port).ok());
  CHECK(host == "::1");
  CHECK(port == 65535);
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "h:65536", "h:12x", "h:-1"}) {
    INFO(bad);
    CHECK(parse_host_port(bad, &host, &port).code() == Status::Code::kInvalidArgument);
  }
}

}  // namespace chorus
