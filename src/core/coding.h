// Little-endian fixed-width and varint encoding helpers, and a bounds-checked reader.
// Used by the record format, internode frames and replication messages.
//
// Writers append to a std::string. Reader never reads past its input: every get_* returns false
// (and leaves the output unchanged) when the input is too short or malformed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chorus {

void put_fixed16(std::string* out, uint16_t v);
void put_fixed32(std::string* out, uint32_t v);
void put_fixed64(std::string* out, uint64_t v);
void put_varint64(std::string* out, uint64_t v);
// varint length followed by the bytes.
void put_length_prefixed(std::string* out, std::string_view bytes);

uint16_t decode_fixed16(const char* p);
uint32_t decode_fixed32(const char* p);
uint64_t decode_fixed64(const char* p);

// Big-endian fixed 64 for keys that must sort numerically (index keys).
void put_big_endian32(std::string* out, uint32_t v);
void put_big_endian64(std::string* out, uint64_t v);
uint64_t decode_big_endian64(const char* p);

class Reader {
 public:
  explicit Reader(std::string_view input) : rest_(input) {}
  [[nodiscard]] bool get_u8(uint8_t* v);
  [[nodiscard]] bool get_fixed16(uint16_t* v);
  [[nodiscard]] bool get_fixed32(uint32_t* v);
  [[nodiscard]] bool get_fixed64(uint64_t* v);
  [[nodiscard]] bool get_varint64(uint64_t* v);
  // A length-prefixed byte string of at most max_bytes; the view points into the input.
  [[nodiscard]] bool get_length_prefixed(std::string_view* v, size_t max_bytes);
  [[nodiscard]] bool get_bytes(size_t n, std::string_view* v);
  size_t remaining() const { return rest_.size(); }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

}  // namespace chorus
