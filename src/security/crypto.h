// Small wrappers over OpenSSL's libcrypto for the security module: SHA-256, constant-time
// comparison, cryptographic randomness and reading a secret file.
//
// Thread-safety: every function is thread-safe (OpenSSL 1.1+/3 initialise themselves).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace chorus::security {

constexpr size_t kSha256Bytes = 32;
using Sha256 = std::array<uint8_t, kSha256Bytes>;

Sha256 sha256(std::string_view bytes);
// Lower-case hex of the digest (64 characters).
std::string to_hex(const Sha256& digest);
// Parses 64 hex digits (either case); InvalidArgument otherwise.
[[nodiscard]] Result<Sha256> sha256_from_hex(std::string_view hex);

// True when equal; the time taken depends only on the (fixed) length, not on where they differ.
bool equal_constant_time(const Sha256& a, const Sha256& b);

// `bytes` bytes from OpenSSL's CSPRNG. Aborts if the generator fails: a node that cannot make
// nonces must not seal anything.
std::string random_bytes(size_t bytes);

// The oldest error in this thread's OpenSSL error queue as text ("unknown OpenSSL error" when
// the queue is empty); clears the queue so the next call reports the next failure only.
std::string openssl_error_text();

// Reads a whole file of at most `bytes_max` bytes (secrets and policies are small). IOError names
// the path and errno text; InvalidArgument when the file is larger than the bound.
[[nodiscard]] Result<std::string> read_small_file(const std::string& path, size_t bytes_max);

}  // namespace chorus::security
