// Text encodings used at the edges (HTTP API, chorusctl, tests): standard base64 (RFC 4648 §4, for
// binary values in JSON), percent-encoding (RFC 3986, for keys in paths and query parameters) and
// UTF-8 validation (a key or value is echoed as a JSON string only when it is valid UTF-8).
//
// Pure functions on byte strings: thread-safe, no allocation beyond the returned string. Decoders
// report malformed input as InvalidArgument with a message saying what is wrong; they never throw.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace chorus {

// Standard alphabet (A-Z a-z 0-9 + /) with '=' padding to a multiple of 4 characters.
std::string base64_encode(std::string_view bytes);

// Accepts exactly what base64_encode produces, modulo non-zero unused bits in the last character:
// standard alphabet, length a multiple of 4, at most two '=' and only at the end. No whitespace, no
// URL-safe alphabet, no missing padding: a value that is not obviously base64 is refused rather
// than guessed at. On error returns InvalidArgument naming the first offending position.
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

// Decodes %XX escapes (either hex case). With plus_as_space, '+' decodes to ' ' (the
// application/x-www-form-urlencoded rule used in query strings; in paths '+' is a literal plus).
// A '%' not followed by two hex digits is InvalidArgument. The result may be any bytes, including
// NUL and invalid UTF-8: callers validate what they need.
[[nodiscard]] Result<std::string> percent_decode(std::string_view text, bool plus_as_space);

// Escapes every byte outside RFC 3986 "unreserved" (A-Z a-z 0-9 - . _ ~) as %XX, so the result is
// one path segment or one query value whatever the input holds (including '/').
std::string percent_encode(std::string_view bytes);

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF, no truncated sequences. NUL bytes are valid UTF-8 (JSON escapes them).
bool is_valid_utf8(std::string_view bytes);

// Splits a raw query string ("a=1&b=x%20y") into (name, value) pairs in order. Names and values
// are percent-decoded with '+' as space; an item whose escapes are malformed keeps its raw text, so
// an unknown parameter with a bad escape is harmless and a known one fails its own validation.
// "a" (no '=') yields ("a", ""); empty items ("a=1&&b=2") are skipped. Never fails.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

}  // namespace chorus
