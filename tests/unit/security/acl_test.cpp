// AclPolicy: parsing (every malformed field refused with its name), authentication by digest, and
// the permission rules; AclFile reload keeps the old policy when the new file is bad.
#include <fstream>

#include <catch2/catch.hpp>

#include "security/acl.h"
#include "tests/unit/temp_dir.h"

using namespace chorus::security;
using chorus::Result;

namespace {

std::string digest_of(const std::string& secret) {
  return to_hex(sha256(secret));
}

std::string policy_json() {
  return R"({"tokens": [
    {"name": "admin", "secret_sha256": ")" +
         digest_of("admin-secret") + R"(", "admin": true},
    {"name": "scrape", "secret_sha256": ")" +
         digest_of("scrape-secret") + R"(", "metrics": true},
    {"name": "reader", "secret_sha256": ")" +
         digest_of("reader-secret") + R"(",
     "rules": [{"prefix": "", "allow": ["read"]}]},
    {"name": "app", "secret_sha256": ")" +
         digest_of("app-secret") + R"(",
     "rules": [{"prefix": "app/", "allow": ["read", "write"]}, {"prefix": "shared/", "allow": ["read"]}]}]})";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-2 test vector", "[security]") {
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  REQUIRE(sha256_from_hex(to_hex(sha256("abc"))).ok());
  CHECK(sha256_from_hex(to_hex(sha256("abc"))).value() == sha256("abc"));
  CHECK_FALSE(sha256_from_hex("abc").ok());
  CHECK_FALSE(sha256_from_hex(std::string(64, 'g')).ok());
}

TEST_CASE("a policy authenticates tokens by digest and applies prefix rules", "[security]") {
  Result<AclPolicy> parsed = AclPolicy::parse(policy_json());
  REQUIRE(parsed.ok());
  const AclPolicy& policy = parsed.value();
  CHECK(policy.size() == 4);

  CHECK(policy.authenticate("") == nullptr);
  CHECK(policy.authenticate("nobody") == nullptr);
  CHECK(policy.authenticate(digest_of("admin-secret")) == nullptr);  // the digest is no token
  const AclToken* admin = policy.authenticate("admin-secret");
  const AclToken* scrape = policy.authenticate("scrape-secret");
  const AclToken* reader = policy.authenticate("reader-secret");
  const AclToken* app = policy.authenticate("app-secret");
  REQUIRE(admin != nullptr);
  REQUIRE(scrape != nullptr);
  REQUIRE(reader != nullptr);
  REQUIRE(app != nullptr);
  CHECK(app->name == "app");

  CHECK(AclPolicy::allows(*admin, Permission::kAdmin, ""));
  CHECK(AclPolicy::allows(*admin, Permission::kWrite, "anything"));
  CHECK(AclPolicy::allows(*scrape, Permission::kMetrics, ""));
  CHECK_FALSE(AclPolicy::allows(*scrape, Permission::kRead, "k"));
  CHECK_FALSE(AclPolicy::allows(*scrape, Permission::kAdmin, ""));
  CHECK(AclPolicy::allows(*reader, Permission::kRead, "any/key"));
  CHECK_FALSE(AclPolicy::allows(*reader, Permission::kWrite, "any/key"));
  CHECK_FALSE(AclPolicy::allows(*reader, Permission::kMetrics, ""));
  CHECK(AclPolicy::allows(*app, Permission::kWrite, "app/x"));
  CHECK(AclPolicy::allows(*app, Permission::kRead, "app/"));
  CHECK(AclPolicy::allows(*app, Permission::kRead, "shared/cfg"));
  CHECK_FALSE(AclPolicy::allows(*app, Permission::kWrite, "shared/cfg"));
  CHECK_FALSE(AclPolicy::allows(*app, Permission::kWrite, "ap"));
  CHECK_FALSE(AclPolicy::allows(*app, Permission::kRead, "other/app/x"));
  CHECK_FALSE(AclPolicy::allows(*app, Permission::kAdmin, ""));
}

TEST_CASE("a malformed policy is refused with the field that is wrong", "[security]") {
  const std::string d = digest_of("s");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"tokens": {}})", "\"tokens\" must be an array"},
      {R"({"tokens": [], "extra": 1})", "unknown field \"extra\""},
      {R"({"tokens": [{"secret_sha256": ")" + d + R"("}]})", "tokens[0].name"},
      {R"({"tokens": [{"name": "a", "secret_sha256": "zz"}]})", "secret_sha256"},
      {R"({"tokens": [{"name": "a", "secret": "plain"}]})", "unknown field \"secret\""},
      {R"({"tokens": [{"name": "a", "secret_sha256": ")" + d + R"(", "admin": "yes"}]})",
       "admin must be true or false"},
      {R"({"tokens": [{"name": "a", "secret_sha256": ")" + d +
           R"(", "rules": [{"prefix": "", "alow": ["read"]}]}]})",
       "unknown field \"alow\""},
      {R"({"tokens": [{"name": "a", "secret_sha256": ")" + d +
           R"(", "rules": [{"prefix": "", "allow": ["delete"]}]}]})",
       "is not \"read\" or \"write\""},
      {R"({"tokens": [{"name": "a", "secret_sha256": ")" + d +
           R"(", "rules": [{"allow": ["read"]}]}]})",
       "prefix must be a string"},
      {R"({"tokens": [{"name": "a", "secret_sha256": ")" + d +
           R"("}, {"name": "a", "secret_sha256": ")" + digest_of("t") + R"("}]})",
       "used twice"},
      {R"({"tokens": [{"name": "a", "secret_sha256": ")" + d +
           R"("}, {"name": "b", "secret_sha256": ")" + d + R"("}]})",
       "same secret"},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    Result<AclPolicy> parsed = AclPolicy::parse(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.status().message(), Catch::Contains(expected));
  }
}

TEST_CASE("bearer tokens are taken from the Authorization header", "[security]") {
  CHECK(bearer_token("Bearer abc") == "abc");
  CHECK(bearer_token("bearer  abc ") == "abc");
  CHECK(bearer_token("BEARER abc") == "abc");
  CHECK(bearer_token("Basic YWJj") == "");
  CHECK(bearer_token("Bearer") == "");
  CHECK(bearer_token("") == "");
}

TEST_CASE("generated tokens are distinct and URL-safe", "[security]") {
  const std::string a = generate_token();
  const std::string b = generate_token();
  CHECK(a.size() == 43);
  CHECK(a != b);
  CHECK(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
        std::string::npos);
}

TEST_CASE("AclFile reloads a good file and keeps the old policy on a bad one", "[security]") {
  chorus::test::TempDir dir;
  const std::string path = dir.path() + "/acl.json";
  write_file(path, policy_json());
  Result<std::unique_ptr<AclFile>> opened = AclFile::open(path);
  REQUIRE(opened.ok());
  AclFile& file = *opened.value();
  CHECK(file.current()->authenticate("app-secret") != nullptr);

  write_file(path, R"({"tokens": [{"name": "new", "secret_sha256": ")" + digest_of("new-secret") +
                       R"(", "admin": true}]})");
  REQUIRE(file.reload().ok());
  CHECK(file.current()->authenticate("app-secret") == nullptr);
  CHECK(file.current()->authenticate("new-secret") != nullptr);

  write_file(path, "{ broken");
  const chorus::Status st = file.reload();
  CHECK_FALSE(st.ok());
  CHECK_THAT(st.message(), Catch::Contains(path));
  CHECK(file.current()->authenticate("new-secret") != nullptr);

  CHECK_FALSE(AclFile::open(dir.path() + "/missing.json").ok());
}
