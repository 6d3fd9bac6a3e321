// Percent-encoding, base64 and UTF-8 validation for chorusctl (see encoding.h).
#include "cli/encoding.h"

#include <array>
#include <cstdint>

namespace chorus::cli {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr int8_t kNotBase64 = -1;

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::array<int8_t, 256> base64_table() {
  std::array<int8_t, 256> table;
  table.fill(kNotBase64);
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kBase64Alphabet[i])] = int8_t(i);
  return table;
}

// Length of the UTF-8 sequence starting at bytes[i], or 0 if it is malformed.
size_t utf8_sequence_length(std::string_view bytes, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(bytes[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length;
  uint32_t min_code_point;
  uint32_t code_point;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, min_code_point = 0x80, code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, min_code_point = 0x800, code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, min_code_point = 0x10000, code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > bytes.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  if (code_point < min_code_point || code_point > 0x10FFFF) return 0;  // overlong, out of range
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;          // UTF-16 surrogates
  return length;
}

}  // namespace

std::string percent_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0x0F];
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                       uint32_t(uint8_t(bytes[i + 2]));
    for (int shift = 18; shift >= 0; shift -= 6) out += kBase64Alphabet[(n >> shift) & 0x3F];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    if (rest == 2) n |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kBase64Alphabet[(n >> 18) & 0x3F];
    out += kBase64Alphabet[(n >> 12) & 0x3F];
    out += rest == 2 ? kBase64Alphabet[(n >> 6) & 0x3F] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  static const std::array<int8_t, 256> kTable = base64_table();
  if (text.size() % 4 != 0) return Status::InvalidArgument("base64 length is not a multiple of 4");
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool is_padding = i >= text.size() - padding;
    const int8_t value = is_padding ? 0 : kTable[static_cast<unsigned char>(text[i])];
    if (value == kNotBase64) return Status::InvalidArgument("invalid base64 character");
    bits = (bits << 6) | uint32_t(value);
    if (i % 4 == 3) {
      out += char((bits >> 16) & 0xFF);
      out += char((bits >> 8) & 0xFF);
      out += char(bits & 0xFF);
      bits = 0;
    }
  }
  out.resize(out.size() - padding);
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    const size_t length = utf8_sequence_length(bytes, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

}  // namespace chorus::cli
