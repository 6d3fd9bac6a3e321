// Validation of KV request inputs: the key path segment, the r/w/sync query parameters and the PUT
// body. Each parser turns untrusted request text into the values KvService expects, or into the
// ApiError the client is answered with (HTTP status, stable error code, message saying what is
// wrong).
//
// Internal to src/api; pure functions, thread-safe, never throw. On error they leave their outputs
// unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/kv_service.h"

namespace chorus {

// A TTL beyond ten years is almost certainly a unit mistake (ms for s); refuse it rather than store
// a record that effectively never expires under a misleading flag.
constexpr uint64_t kTtlSecondsMax = uint64_t{10} * 365 * 24 * 3600;

// What the API answers a request it refuses with: {"error": code, "message": message}.
struct ApiError {
  int http_status = 400;
  std::string code;
  std::string message;
};

// The key is everything after "/v1/kv/" (or the debug prefixes), percent-decoded, so "a%2Fb" and
// the raw "a/b" both name the key "a/b" ('+' stays a plus). Errors: malformed escape, empty key or
// invalid UTF-8 -> 400 "invalid_key"; more than kKeyBytesMax bytes -> 413 "key_too_large".
[[nodiscard]] std::optional<ApiError> parse_key(std::string_view raw_segment, std::string* key);

// A `?r=` / `?w=` value: 1..replicas, "one", "quorum", "all" (ASCII case-insensitive). Absent
// (nullopt) means the node's default. Anything else, including 0 or a count above `replicas`, is
// 400 "invalid_consistency"; `name` ("r" or "w") appears in the message.
[[nodiscard]] std::optional<ApiError> parse_consistency(std::optional<std::string_view> text,
                                                        const char* name, int replicas,
                                                        Consistency* out);

// `?sync=`: true|false|1|0; absent means false. Anything else is 400 "invalid_sync".
[[nodiscard]] std::optional<ApiError> parse_sync(std::optional<std::string_view> text, bool* out);

struct PutBody {
  std::string value;
  uint64_t ttl_s = 0;  // 0 = no expiry
};

// With Content-Type application/octet-stream (parameters ignored) the body is the value. Otherwise
// it must be a JSON object with exactly one of "value" (a string; stored as its UTF-8 bytes) or
// "value_base64" (standard base64 of the bytes), and optionally "ttl_s" (an integer 0..
// kTtlSecondsMax). Unknown fields are refused so a typo ("ttl") cannot silently drop a TTL.
// Errors: 400 "invalid_json" (not JSON, not an object, unknown field), "invalid_value" (field
// missing, both given, wrong type), "invalid_base64", "invalid_ttl"; 413 "too_large" when the
// value exceeds value_bytes_max.
[[nodiscard]] std::optional<ApiError> parse_put_body(std::string_view content_type,
                                                     std::string body, size_t value_bytes_max,
                                                     PutBody* out);

}  // namespace chorus
