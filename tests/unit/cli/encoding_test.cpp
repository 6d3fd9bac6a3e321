// Tests for chorusctl's encodings: percent-encoding of keys, base64 (RFC 4648 §10 vectors) and
// UTF-8 validation.
#include <catch2/catch.hpp>
#include <string>

#include "cli/encoding.h"

using namespace chorus::cli;
using namespace std::string_literals;

TEST_CASE("percent_encode leaves only unreserved characters") {
  REQUIRE(percent_encode("AZaz09-._~") == "AZaz09-._~");
  REQUIRE(percent_encode("user/42") == "user%2F42");
  REQUIRE(percent_encode("a b+c%d?e#f&g=h") == "a%20b%2Bc%25d%3Fe%23f%26g%3Dh");
  REQUIRE(percent_encode("\x00\xff"s) == "%00%FF");
  REQUIRE(percent_encode("h\xC3\xA9") == "h%C3%A9");
  REQUIRE(percent_encode("") == "");
}

TEST_CASE("base64 matches RFC 4648 test vectors both ways") {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    REQUIRE(base64_encode(plain) == encoded);
    auto decoded = base64_decode(encoded);
    REQUIRE(decoded.ok());
    REQUIRE(decoded.value() == plain);
  }
  const std::string binary = "\x00\x01\x02\xff\xfe"s;
  REQUIRE(base64_encode(binary) == "AAEC//4=");
  REQUIRE(base64_decode("AAEC//4=").value() == binary);
}

TEST_CASE("base64_decode refuses what base64_encode never produces") {
  for (const char* bad :
       {"Zg", "Zg=", "Z===", "Zm9v=", "Zm-v", "Zm_v", "Zg==Zg==", "=Zg=", "Zm 9"}) {
    INFO(bad);
    REQUIRE_FALSE(base64_decode(bad).ok());
  }
}

TEST_CASE("is_valid_utf8 accepts UTF-8 and refuses malformed sequences") {
  REQUIRE(is_valid_utf8(""));
  REQUIRE(is_valid_utf8("plain ascii"));
  REQUIRE(is_valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  REQUIRE(is_valid_utf8("nul \x00 inside"s));
  REQUIRE_FALSE(is_valid_utf8("\xff"));
  REQUIRE_FALSE(is_valid_utf8("\xC3"));              // truncated
  REQUIRE_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  REQUIRE_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate U+D800
  REQUIRE_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  REQUIRE_FALSE(is_valid_utf8("\x80"));              // lone continuation byte
}
