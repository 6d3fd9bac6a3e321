#include "api/request_parsing.h"

#include <string>

#include <catch2/catch.hpp>

#include "core/limits.h"
#include "core/text.h"

namespace chorus {
namespace {

std::optional<ApiError> put(std::string_view content_type, const std::string& body, PutBody* out,
                            size_t value_bytes_max = 100) {
  return parse_put_body(content_type, body, value_bytes_max, out);
}

TEST_CASE("parse_key decodes the segment and bounds it", "[api][parsing]") {
  std::string key = "unchanged";
  CHECK_FALSE(parse_key("a%2Fb", &key));
  CHECK(key == "a/b");
  CHECK_FALSE(parse_key("a/b", &key));
  CHECK(key == "a/b");
  CHECK_FALSE(parse_key("x+y", &key));
  CHECK(key == "x+y");
  CHECK_FALSE(parse_key("caf%C3%A9", &key));
  CHECK(key == "caf\xc3\xa9");
  CHECK_FALSE(parse_key(std::string(kKeyBytesMax, 'k'), &key));
  CHECK(key.size() == kKeyBytesMax);

  key = "unchanged";
  for (const char* bad : {"", "%", "%zz", "%FF", "%C0%AF"}) {
    INFO(bad);
    auto error = parse_key(bad, &key);
    REQUIRE(error);
    CHECK(error->http_status == 400);
    CHECK(error->code == "invalid_key");
  }
  auto error = parse_key(std::string(kKeyBytesMax + 1, 'k'), &key);
  REQUIRE(error);
  CHECK(error->http_status == 413);
  CHECK(error->code == "key_too_large");
  // Escapes count after decoding: 1024 encoded bytes of "%41" are 1024 key bytes.
  std::string encoded;
  for (size_t i = 0; i < kKeyBytesMax; ++i) encoded += "%41";
  CHECK_FALSE(parse_key(encoded, &key));
  CHECK(key == std::string(kKeyBytesMax, 'A'));
}

TEST_CASE("parse_consistency accepts 1..N - one - quorum - all", "[api][parsing]") {
  Consistency c;
  CHECK_FALSE(parse_consistency(std::nullopt, "r", 3, &c));
  CHECK(c.kind == Consistency::Kind::kDefault);
  CHECK_FALSE(parse_consistency("2", "r", 3, &c));
  CHECK((c.kind == Consistency::Kind::kCount && c.count == 2));
  CHECK_FALSE(parse_consistency("3", "r", 3, &c));
  CHECK(c.count == 3);
  CHECK_FALSE(parse_consistency("one", "r", 3, &c));
  CHECK(c.kind == Consistency::Kind::kOne);
  CHECK_FALSE(parse_consistency("QUORUM", "r", 3, &c));
  CHECK(c.kind == Consistency::Kind::kQuorum);
  CHECK_FALSE(parse_consistency("all", "w", 5, &c));
  CHECK(c.kind == Consistency::Kind::kAll);

  for (const char* bad : {"", "0", "4", "-1", "+1", "1.0", "two", "quorum ", "99999999999", "2a"}) {
    INFO(bad);
    Consistency before{Consistency::Kind::kOne, 0};
    auto error = parse_consistency(std::string_view(bad), "w", 3, &before);
    REQUIRE(error);
    CHECK(error->http_status == 400);
    CHECK(error->code == "invalid_consistency");
    CHECK(error->message.find("w must be 1..3") != std::string::npos);
    CHECK(before.kind == Consistency::Kind::kOne);
  }
}

TEST_CASE("parse_sync accepts true/false/1/0", "[api][parsing]") {
  bool sync = true;
  CHECK_FALSE(parse_sync(std::nullopt, &sync));
  CHECK_FALSE(sync);
  CHECK_FALSE(parse_sync("true", &sync));
  CHECK(sync);
  CHECK_FALSE(parse_sync("0", &sync));
  CHECK_FALSE(sync);
  CHECK_FALSE(parse_sync("1", &sync));
  CHECK(sync);
  CHECK_FALSE(parse_sync("false", &sync));
  CHECK_FALSE(sync);
  for (const char* bad : {"", "yes", "TRUE ", "2"}) {
    INFO(bad);
    auto error = parse_sync(std::string_view(bad), &sync);
    REQUIRE(error);
    CHECK(error->code == "invalid_sync");
  }
}

TEST_CASE("parse_put_body takes a raw octet-stream body as the value", "[api][parsing]") {
  PutBody body;
  const std::string binary("\x00\xff{not json", 11);
  CHECK_FALSE(put("application/octet-stream", binary, &body));
  CHECK(body.value == binary);
  CHECK(body.ttl_s == 0);
  CHECK_FALSE(put(" Application/Octet-Stream ; foo=bar", "", &body));
  CHECK(body.value.empty());
  auto error = put("application/octet-stream", std::string(101, 'x'), &body);
  REQUIRE(error);
  CHECK(error->http_status == 413);
  CHECK(error->code == "too_large");
}

TEST_CASE("parse_put_body reads value - value_base64 and ttl_s from JSON", "[api][parsing]") {
  PutBody body;
  CHECK_FALSE(put("application/json", R"({"value":"caf\u00e9"})", &body));
  CHECK(body.value == "caf\xc3\xa9");
  CHECK_FALSE(put("", R"({"value_base64":"AP8=","ttl_s":60})", &body));
  CHECK(body.value == std::string("\x00\xff", 2));
  CHECK(body.ttl_s == 60);
  CHECK_FALSE(put("text/plain", R"({"value":"","ttl_s":0})", &body));
  CHECK(body.value.empty());
  CHECK(body.ttl_s == 0);
  CHECK_FALSE(put("application/json", R"({"value":"x","ttl_s":315360000})", &body));
  CHECK(body.ttl_s == kTtlSecondsMax);
  // A value of exactly the limit fits, after base64 decoding.
  CHECK_FALSE(put("application/json",
                  R"({"value_base64":")" + base64_encode(std::string(100, 'v')) + R"("})", &body));
  CHECK(body.value.size() == 100);
}

TEST_CASE("parse_put_body names what is wrong with a JSON body", "[api][parsing]") {
  struct Case {
    const char* body;
    int status;
    const char* code;
  };
  const Case cases[] = {
      {"", 400, "invalid_json"},
      {"{", 400, "invalid_json"},
      {"\"value\"", 400, "invalid_json"},
      {"[1]", 400, "invalid_json"},
      {"{\"value\":\"\xff\"}", 400, "invalid_json"},  // invalid UTF-8 inside a JSON string
      {R"({"value":"x","extra":1})", 400, "invalid_json"},
      {R"({})", 400, "invalid_value"},
      {R"({"ttl_s":5})", 400, "invalid_value"},
      {R"({"value":"x","value_base64":"eA=="})", 400, "invalid_value"},
      {R"({"value":5})", 400, "invalid_value"},
      {R"({"value":null})", 400, "invalid_value"},
      {R"({"value_base64":["eA=="]})", 400, "invalid_value"},
      {R"({"value_base64":"eA"})", 400, "invalid_base64"},
      {R"({"value_base64":"e A="})", 400, "invalid_base64"},
      {R"({"value":"x","ttl_s":-1})", 400, "invalid_ttl"},
      {R"({"value":"x","ttl_s":1.5})", 400, "invalid_ttl"},
      {R"({"value":"x","ttl_s":"5"})", 400, "invalid_ttl"},
      {R"({"value":"x","ttl_s":315360001})", 400, "invalid_ttl"},
      {R"({"value":"x","ttl_s":18446744073709551615})", 400, "invalid_ttl"},
      {R"({"value":"x","ttl_s":null})", 400, "invalid_ttl"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    PutBody body;
    body.value = "unchanged";
    auto error = put("application/json", c.body, &body);
    REQUIRE(error);
    CHECK(error->http_status == c.status);
    CHECK(error->code == c.code);
    CHECK_FALSE(error->message.empty());
    CHECK(body.value == "unchanged");
  }
  PutBody body;
  auto error = put("application/json", R"({"value":")" + std::string(101, 'x') + R"("})", &body);
  REQUIRE(error);
  CHECK(error->http_status == 413);
  CHECK(error->code == "too_large");
}

}  // namespace
}  // namespace chorus
