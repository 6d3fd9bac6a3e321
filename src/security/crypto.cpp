#include "security/crypto.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace chorus::security {

Sha256 sha256(std::string_view bytes) {
  Sha256 digest{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  return digest;
}

std::string to_hex(const Sha256& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest.size());
  for (uint8_t b : digest) {
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 0x0f]);
  }
  return hex;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Sha256> sha256_from_hex(std::string_view hex) {
  if (hex.size() != 2 * kSha256Bytes) {
    return Status::InvalidArgument("a SHA-256 digest is 64 hex digits, got " +
                                   std::to_string(hex.size()) + " characters");
  }
  Sha256 digest{};
  for (size_t i = 0; i < digest.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("not a hex digit at position " + std::to_string(2 * i));
    }
    digest[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return digest;
}

bool equal_constant_time(const Sha256& a, const Sha256& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(size_t bytes) {
  std::string out(bytes, '\0');
  if (bytes > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(bytes)) != 1) {
    std::fprintf(stderr, "fatal: OpenSSL's random generator failed\n");
    std::abort();
  }
  return out;
}

std::string openssl_error_text() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

Result<std::string> read_small_file(const std::string& path, size_t bytes_max) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return Status::IOError("cannot open " + path + ": " + std::strerror(errno));
  std::string text;
  char chunk[4096];
  size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) {
    text.append(chunk, n);
    if (text.size() > bytes_max) {
      return Status::InvalidArgument(path + " is larger than " + std::to_string(bytes_max) +
                                     " bytes");
    }
  }
  if (std::ferror(file.get())) return Status::IOError("cannot read " + path);
  return text;
}

}  // namespace chorus::security
