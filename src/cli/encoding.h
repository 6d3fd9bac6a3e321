// Text encodings chorusctl needs on the client side of the HTTP API (DESIGN.md §8): RFC 3986
// percent-encoding for keys in paths and query values, RFC 4648 base64 for binary values in JSON,
// and UTF-8 validation to choose between "value" and "value_base64".
//
// The server has its own copies in src/api/encoding.h; the CLI does not link the server library so
// that it stays a small, dependency-light client.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace chorus::cli {

// Encodes every byte except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) as %XX with
// uppercase hex, so any key, '/' and '%' included, is one path segment.
std::string percent_encode(std::string_view bytes);

// Standard alphabet with '=' padding.
std::string base64_encode(std::string_view bytes);

// Strict inverse of base64_encode: standard alphabet, length a multiple of 4, padding only at the
// end. On error returns InvalidArgument.
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

// True if `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points > U+10FFFF),
// i.e. what a JSON string can carry as "value".
bool is_valid_utf8(std::string_view bytes);

}  // namespace chorus::cli
