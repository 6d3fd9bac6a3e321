#include "core/text.h"

#include <string>

#include <catch2/catch.hpp>

namespace chorus {
namespace {

std::string all_bytes() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  return bytes;
}

TEST_CASE("base64 matches the RFC 4648 test vectors", "[api][encoding]") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(*base64_decode("Zm9vYmE=") == "fooba");
  CHECK(*base64_decode("Zm9vYg==") == "foob");
  CHECK(*base64_decode("") == "");
}

TEST_CASE("base64 round-trips every byte value and length", "[api][encoding]") {
  const std::string bytes = all_bytes();
  for (size_t length = 0; length <= bytes.size(); length += 7) {
    const std::string input = bytes.substr(bytes.size() - length);
    Result<std::string> decoded = base64_decode(base64_encode(input));
    REQUIRE(decoded.ok());
    CHECK(*decoded == input);
  }
  CHECK(base64_encode(std::string("\xff\xfe\x00", 3)) == "//4A");
}

TEST_CASE("base64_decode refuses what is not standard padded base64", "[api][encoding]") {
  for (const char* bad : {"Zg", "Zg=", "Zm9", "Z===", "====", "Zm9v YmFy", "Zm9v\nYmFy", "Zm-v",
                          "Zm_v", "Zg==Zg==", "=Zm9", "Zm=v", "Zm9vYmFy\xc3\xa9"}) {
    INFO(bad);
    CHECK_FALSE(base64_decode(bad).ok());
  }
  CHECK(base64_decode("Zm-v").status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("percent_decode decodes escapes and refuses malformed ones", "[api][encoding]") {
  CHECK(*percent_decode("a%2Fb", false) == "a/b");
  CHECK(*percent_decode("a%2fb", false) == "a/b");
  CHECK(*percent_decode("caf%C3%A9", false) == "caf\xc3\xa9");
  CHECK(*percent_decode("%00x", false) == std::string("\0x", 2));
  CHECK(*percent_decode("a+b", false) == "a+b");
  CHECK(*percent_decode("a+b%2B", true) == "a b+");
  CHECK(*percent_decode("", false) == "");
  for (const char* bad : {"%", "%2", "a%G0", "%%", "x%2"}) {
    INFO(bad);
    CHECK_FALSE(percent_decode(bad, false).ok());
  }
}

TEST_CASE("percent_encode escapes everything but unreserved bytes", "[api][encoding]") {
  CHECK(percent_encode("a/b c") == "a%2Fb%20c");
  CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(percent_encode("\xff+%") == "%FF%2B%25");
  const std::string bytes = all_bytes();
  CHECK(*percent_decode(percent_encode(bytes), false) == bytes);
}

TEST_CASE("is_valid_utf8 follows RFC 3629", "[api][encoding]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8(std::string("nul\0inside", 10)));
  CHECK(is_valid_utf8("caf\xc3\xa9"));       // U+00E9
  CHECK(is_valid_utf8("\xe2\x82\xac"));      // U+20AC
  CHECK(is_valid_utf8("\xf0\x9f\x98\x80"));  // U+1F600
  CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  CHECK(is_valid_utf8("\xed\x9f\xbf"));      // U+D7FF, just below the surrogates
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\x80"));              // stray continuation
  CHECK_FALSE(is_valid_utf8("\xc3"));              // truncated
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong 3-byte
  CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));  // overlong 4-byte
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // U+D800 surrogate
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  CHECK_FALSE(is_valid_utf8("\xe2\x82"));      // truncated 3-byte
  CHECK_FALSE(is_valid_utf8("\xe2\x28\xa1"));  // bad continuation
}

TEST_CASE("parse_query splits - decodes and keeps malformed items raw", "[api][encoding]") {
  using Items = std::vector<std::pair<std::string, std::string>>;
  CHECK(parse_query("").empty());
  CHECK(parse_query("r=2&w=all") == Items{{"r", "2"}, {"w", "all"}});
  CHECK(parse_query("a=x%20y+z&&b") == Items{{"a", "x y z"}, {"b", ""}});
  CHECK(parse_query("k=a=b") == Items{{"k", "a=b"}});
  CHECK(parse_query("bad=%ZZ&r=%71uorum") == Items{{"bad", "%ZZ"}, {"r", "quorum"}});
  CHECK(parse_query("&=v&") == Items{{"", "v"}});
}

}  // namespace
}  // namespace chorus
