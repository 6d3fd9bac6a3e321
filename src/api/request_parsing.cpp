#include "api/request_parsing.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "core/limits.h"
#include "core/text.h"

namespace chorus {
namespace {

ApiError bad_request(const char* code, std::string message) {
  return ApiError{400, code, std::move(message)};
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// "application/octet-stream; charset=x" -> true; parameters and surrounding blanks ignored.
bool is_octet_stream(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  return equals_ignore_case(media, "application/octet-stream");
}

ApiError value_too_large(size_t bytes, size_t value_bytes_max) {
  return ApiError{413, "too_large",
                  "value is " + std::to_string(bytes) + " bytes; the limit is " +
                      std::to_string(value_bytes_max)};
}

std::optional<ApiError> parse_ttl(const nlohmann::json& ttl, uint64_t* ttl_s) {
  const std::string limit =
      "\"ttl_s\" must be an integer from 0 to " + std::to_string(kTtlSecondsMax);
  if (!ttl.is_number_integer()) return bad_request("invalid_ttl", limit);
  if (ttl.is_number_unsigned()) {
    const auto seconds = ttl.get<uint64_t>();
    if (seconds > kTtlSecondsMax) return bad_request("invalid_ttl", limit);
    *ttl_s = seconds;
    return std::nullopt;
  }
  const auto seconds = ttl.get<int64_t>();
  if (seconds < 0 || static_cast<uint64_t>(seconds) > kTtlSecondsMax) {
    return bad_request("invalid_ttl", limit);
  }
  *ttl_s = static_cast<uint64_t>(seconds);
  return std::nullopt;
}

// Picks the value out of a parsed JSON object; see parse_put_body for the rules.
std::optional<ApiError> json_value(const nlohmann::json& doc, std::string* value) {
  const auto text = doc.find("value");
  const auto base64 = doc.find("value_base64");
  const bool has_text = text != doc.end();
  const bool has_base64 = base64 != doc.end();
  if (has_text == has_base64) {
    return bad_request("invalid_value", has_text ? "give only one of \"value\" and \"value_base64\""
                                                 : "body needs \"value\" or \"value_base64\"");
  }
  if (has_text) {
    if (!text->is_string()) return bad_request("invalid_value", "\"value\" must be a string");
    *value = text->get<std::string>();
    return std::nullopt;
  }
  if (!base64->is_string()) {
    return bad_request("invalid_value", "\"value_base64\" must be a string");
  }
  Result<std::string> decoded = base64_decode(base64->get_ref<const std::string&>());
  if (!decoded.ok()) return bad_request("invalid_base64", decoded.status().message());
  *value = std::move(decoded).value();
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> parse_key(std::string_view raw_segment, std::string* key) {
  Result<std::string> decoded = percent_decode(raw_segment, /*plus_as_space=*/false);
  if (!decoded.ok()) return bad_request("invalid_key", "key: " + decoded.status().message());
  if (decoded->empty()) return bad_request("invalid_key", "key is empty");
  if (decoded->size() > kKeyBytesMax) {
    return ApiError{413, "key_too_large",
                    "key is " + std::to_string(decoded->size()) + " bytes; the limit is " +
                        std::to_string(kKeyBytesMax)};
  }
  if (!is_valid_utf8(*decoded)) return bad_request("invalid_key", "key is not valid UTF-8");
  *key = std::move(decoded).value();
  return std::nullopt;
}

std::optional<ApiError> parse_consistency(std::optional<std::string_view> text, const char* name,
                                          int replicas, Consistency* out) {
  if (!text) {
    *out = Consistency{};
    return std::nullopt;
  }
  const std::string_view v = *text;
  if (equals_ignore_case(v, "one")) {
    *out = Consistency{Consistency::Kind::kOne, 0};
    return std::nullopt;
  }
  if (equals_ignore_case(v, "quorum")) {
    *out = Consistency{Consistency::Kind::kQuorum, 0};
    return std::nullopt;
  }
  if (equals_ignore_case(v, "all")) {
    *out = Consistency{Consistency::Kind::kAll, 0};
    return std::nullopt;
  }
  // At most 4 digits: no replica count comes close, and it keeps the arithmetic overflow-free.
  constexpr size_t kCountDigitsMax = 4;
  bool digits = !v.empty() && v.size() <= kCountDigitsMax;
  int count = 0;
  for (const char c : v) {
    digits = digits && c >= '0' && c <= '9';
    if (digits) count = count * 10 + (c - '0');
  }
  if (!digits || count < 1 || count > replicas) {
    return bad_request(
        "invalid_consistency",
        std::string(name) + " must be 1.." + std::to_string(replicas) + ", one, quorum or all");
  }
  *out = Consistency{Consistency::Kind::kCount, count};
  return std::nullopt;
}

std::optional<ApiError> parse_sync(std::optional<std::string_view> text, bool* out) {
  if (!text) {
    *out = false;
    return std::nullopt;
  }
  if (*text == "true" || *text == "1") {
    *out = true;
  } else if (*text == "false" || *text == "0") {
    *out = false;
  } else {
    return bad_request("invalid_sync", "sync must be true, false, 1 or 0");
  }
  return std::nullopt;
}

std::optional<ApiError> parse_put_body(std::string_view content_type, std::string body,
                                       size_t value_bytes_max, PutBody* out) {
  if (is_octet_stream(content_type)) {
    if (body.size() > value_bytes_max) return value_too_large(body.size(), value_bytes_max);
    *out = PutBody{std::move(body), 0};
    return std::nullopt;
  }
  // allow_exceptions=false: malformed JSON (including invalid UTF-8 in strings) yields a
  // "discarded" value instead of an exception.
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad_request("invalid_json", "body is not valid JSON");
  if (!doc.is_object()) return bad_request("invalid_json", "body must be a JSON object");
  for (const auto& item : doc.items()) {
    if (item.key() != "value" && item.key() != "value_base64" && item.key() != "ttl_s") {
      return bad_request("invalid_json", "unknown field \"" + item.key() +
                                             "\" (expected value, value_base64, ttl_s)");
    }
  }
  PutBody parsed;
  if (auto error = json_value(doc, &parsed.value)) return error;
  if (parsed.value.size() > value_bytes_max) {
    return value_too_large(parsed.value.size(), value_bytes_max);
  }
  const auto ttl = doc.find("ttl_s");
  if (ttl != doc.end()) {
    if (auto error = parse_ttl(*ttl, &parsed.ttl_s)) return error;
  }
  *out = std::move(parsed);
  return std::nullopt;
}

}  // namespace chorus
