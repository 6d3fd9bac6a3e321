#include "core/coding.h"

#include <cstring>

namespace chorus {

void put_fixed16(std::string* out, uint16_t v) {
  char buf[2] = {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
  out->append(buf, 2);
}

void put_fixed32(std::string* out, uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(buf, 4);
}

void put_fixed64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(buf, 8);
}

void put_big_endian32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_big_endian64(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * (7 - i))) & 0xff);
  out->append(buf, 8);
}

void put_varint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void put_length_prefixed(std::string* out, std::string_view bytes) {
  put_varint64(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

uint16_t decode_fixed16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}

uint32_t decode_fixed32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}

uint64_t decode_fixed64(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}

uint64_t decode_big_endian64(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | u[i];
  return v;
}

bool Reader::get_u8(uint8_t* v) {
  if (rest_.empty()) return false;
  *v = static_cast<uint8_t>(rest_[0]);
  rest_.remove_prefix(1);
  return true;
}

bool Reader::get_fixed16(uint16_t* v) {
  if (rest_.size() < 2) return false;
  *v = decode_fixed16(rest_.data());
  rest_.remove_prefix(2);
  return true;
}

bool Reader::get_fixed32(uint32_t* v) {
  if (rest_.size() < 4) return false;
  *v = decode_fixed32(rest_.data());
  rest_.remove_prefix(4);
  return true;
}

bool Reader::get_fixed64(uint64_t* v) {
  if (rest_.size() < 8) return false;
  *v = decode_fixed64(rest_.data());
  rest_.remove_prefix(8);
  return true;
}

bool Reader::get_varint64(uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; shift <= 63 && i < static_cast<int>(rest_.size()); shift += 7, ++i) {
    uint64_t byte = static_cast<unsigned char>(rest_[i]);
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      rest_.remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

bool Reader::get_bytes(size_t n, std::string_view* v) {
  if (rest_.size() < n) return false;
  *v = rest_.substr(0, n);
  rest_.remove_prefix(n);
  return true;
}

bool Reader::get_length_prefixed(std::string_view* v, size_t max_bytes) {
  Reader probe = *this;
  uint64_t n = 0;
  if (!probe.get_varint64(&n) || n > max_bytes || n > probe.remaining()) return false;
  *this = probe;
  return get_bytes(static_cast<size_t>(n), v);
}

}  // namespace chorus
