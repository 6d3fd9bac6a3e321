// AclPolicy: who may do what through the HTTP API (DESIGN.md §10), and AclFile, the policy loaded
// from --acl-file and swapped in whole on SIGHUP.
//
// The file is JSON:
//   {"tokens": [
//     {"name": "admin",  "secret_sha256": "<64 hex>", "admin": true},
//     {"name": "scrape", "secret_sha256": "...", "metrics": true},
//     {"name": "app",    "secret_sha256": "...", "rules": [{"prefix": "app/", "allow": ["read",
//     "write"]}]}]}
// Only the SHA-256 of a token is stored, so the file is no secret by itself. A request is checked
// in two steps: authenticate() finds the token whose digest matches the bearer token (comparing
// against every entry in constant time, so timing tells nothing about which digest is close), then
// allows() decides the operation: `admin` may do everything; `metrics` may read /metrics; a rule
// allows `read`/`write` on every key that starts with its prefix ("" = every key).
//
// Errors: parse() returns InvalidArgument naming the first bad field (unknown fields included, so
// a typo such as "alow" is never silently a token with no rights); duplicate names or digests are
// refused. Thread-safety: AclPolicy is immutable after parse() and safe to share; AclFile publishes
// snapshots atomically (current() never locks, reload() may run concurrently with readers).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "security/crypto.h"

namespace chorus::security {

// Bounds: a policy file is read whole into memory and scanned for every request.
constexpr size_t kAclFileBytesMax = 1 << 20;
constexpr size_t kAclTokensMax = 1024;
constexpr size_t kAclRulesPerTokenMax = 256;
constexpr size_t kAclNameBytesMax = 128;
constexpr size_t kAclPrefixBytesMax = 1024;  // the key bound: a longer prefix matches no key
// A bearer token longer than this is refused before it is hashed.
constexpr size_t kBearerTokenBytesMax = 512;

enum class Permission { kRead, kWrite, kMetrics, kAdmin };
const char* permission_name(Permission permission);

struct AclRule {
  std::string prefix;
  bool read = false;
  bool write = false;
};

struct AclToken {
  std::string name;
  Sha256 secret_sha256{};
  bool admin = false;
  bool metrics = false;
  std::vector<AclRule> rules;
};

class AclPolicy {
 public:
  [[nodiscard]] static Result<AclPolicy> parse(std::string_view json_text);

  // The token whose digest is sha256(secret), or null. Looks at every entry whatever it finds.
  const AclToken* authenticate(std::string_view secret) const;
  // True when `token` may perform `permission` on `key` (key is ignored for kMetrics/kAdmin).
  static bool allows(const AclToken& token, Permission permission, std::string_view key);

  size_t size() const { return tokens_.size(); }

 private:
  std::vector<AclToken> tokens_;
};

// The bearer token of an "Authorization: Bearer <token>" header value (scheme matched without
// regard to case, as RFC 7235 says); empty when the header is absent or of another scheme.
std::string_view bearer_token(std::string_view authorization_header);

// A new random token (32 bytes of CSPRNG output, base64url without padding: 43 characters).
std::string generate_token();

class AclFile {
 public:
  // Reads and parses `path`; the error names the file.
  [[nodiscard]] static Result<std::unique_ptr<AclFile>> open(std::string path);

  // Never null.
  std::shared_ptr<const AclPolicy> current() const;
  // Re-reads the file. On error the current policy stays in force and the error is returned.
  [[nodiscard]] Status reload();
  const std::string& path() const { return path_; }

 private:
  explicit AclFile(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] static Result<std::shared_ptr<const AclPolicy>> load(const std::string& path);

  const std::string path_;
  std::shared_ptr<const AclPolicy> policy_;  // read and written with std::atomic_load/store
};

}  // namespace chorus::security
