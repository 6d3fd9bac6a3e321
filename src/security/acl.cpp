#include "security/acl.h"

#include <set>

#include <nlohmann/json.hpp>

namespace chorus::security {

using json = nlohmann::json;

const char* permission_name(Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return "read";
    case Permission::kWrite:
      return "write";
    case Permission::kMetrics:
      return "metrics";
    case Permission::kAdmin:
      return "admin";
  }
  return "?";
}

namespace {

Status unknown_fields(const json& object, std::initializer_list<const char*> known,
                      const std::string& where) {
  for (const auto& item : object.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || item.key() == k;
    if (!ok) return Status::InvalidArgument(where + ": unknown field \"" + item.key() + "\"");
  }
  return Status::OK();
}

Result<AclRule> parse_rule(const json& j, const std::string& where) {
  if (!j.is_object()) return Status::InvalidArgument(where + " must be an object");
  CHORUS_RETURN_IF_ERROR(unknown_fields(j, {"prefix", "allow"}, where));
  AclRule rule;
  if (!j.contains("prefix") || !j["prefix"].is_string()) {
    return Status::InvalidArgument(where + ".prefix must be a string (\"\" for every key)");
  }
  rule.prefix = j["prefix"].get<std::string>();
  if (rule.prefix.size() > kAclPrefixBytesMax) {
    return Status::InvalidArgument(where + ".prefix is longer than a key may be");
  }
  if (!j.contains("allow") || !j["allow"].is_array() || j["allow"].empty()) {
    return Status::InvalidArgument(where +
                                   ".allow must be a non-empty array of \"read\"/\"write\"");
  }
  for (const json& op : j["allow"]) {
    if (op == "read") {
      rule.read = true;
    } else if (op == "write") {
      rule.write = true;
    } else {
      return Status::InvalidArgument(where + ".allow: " + op.dump() +
                                     " is not \"read\" or \"write\"");
    }
  }
  return rule;
}

Result<AclToken> parse_token(const json& j, const std::string& where) {
  if (!j.is_object()) return Status::InvalidArgument(where + " must be an object");
  CHORUS_RETURN_IF_ERROR(
      unknown_fields(j, {"name", "secret_sha256", "admin", "metrics", "rules"}, where));
  AclToken token;
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty() ||
      j["name"].get<std::string>().size() > kAclNameBytesMax) {
    return Status::InvalidArgument(where + ".name must be a string of 1.." +
                                   std::to_string(kAclNameBytesMax) + " bytes");
  }
  token.name = j["name"].get<std::string>();
  const std::string named = where + " (\"" + token.name + "\")";
  if (!j.contains("secret_sha256") || !j["secret_sha256"].is_string()) {
    return Status::InvalidArgument(named + ".secret_sha256 must be a string");
  }
  Result<Sha256> digest = sha256_from_hex(j["secret_sha256"].get<std::string>());
  if (!digest.ok()) {
    return Status::InvalidArgument(named + ".secret_sha256: " + digest.status().message());
  }
  token.secret_sha256 = digest.value();
  for (const char* flag : {"admin", "metrics"}) {
    if (!j.contains(flag)) continue;
    if (!j[flag].is_boolean())
      return Status::InvalidArgument(named + "." + flag + " must be true or false");
    (std::string_view(flag) == "admin" ? token.admin : token.metrics) = j[flag].get<bool>();
  }
  if (j.contains("rules")) {
    const json& rules = j["rules"];
    if (!rules.is_array() || rules.size() > kAclRulesPerTokenMax) {
      return Status::InvalidArgument(named + ".rules must be an array of at most " +
                                     std::to_string(kAclRulesPerTokenMax) + " rules");
    }
    for (size_t i = 0; i < rules.size(); ++i) {
      Result<AclRule> rule = parse_rule(rules[i], named + ".rules[" + std::to_string(i) + "]");
      if (!rule.ok()) return rule.status();
      token.rules.push_back(std::move(rule).value());
    }
  }
  return token;
}

}  // namespace

Result<AclPolicy> AclPolicy::parse(std::string_view json_text) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("the ACL must be a JSON object");
  CHORUS_RETURN_IF_ERROR(unknown_fields(j, {"tokens"}, "the ACL"));
  if (!j.contains("tokens") || !j["tokens"].is_array()) {
    return Status::InvalidArgument("\"tokens\" must be an array");
  }
  const json& tokens = j["tokens"];
  if (tokens.size() > kAclTokensMax) {
    return Status::InvalidArgument("more than " + std::to_string(kAclTokensMax) + " tokens");
  }
  AclPolicy policy;
  std::set<std::string> names;
  std::set<std::string> digests;
  for (size_t i = 0; i < tokens.size(); ++i) {
    Result<AclToken> token = parse_token(tokens[i], "tokens[" + std::to_string(i) + "]");
    if (!token.ok()) return token.status();
    if (!names.insert(token->name).second) {
      return Status::InvalidArgument("tokens[" + std::to_string(i) + "]: the name \"" +
                                     token->name + "\" is used twice");
    }
    if (!digests.insert(to_hex(token->secret_sha256)).second) {
      return Status::InvalidArgument("tokens[" + std::to_string(i) + "] (\"" + token->name +
                                     "\"): the same secret is listed twice");
    }
    policy.tokens_.push_back(std::move(token).value());
  }
  return policy;
}

const AclToken* AclPolicy::authenticate(std::string_view secret) const {
  if (secret.empty() || secret.size() > kBearerTokenBytesMax) return nullptr;
  const Sha256 digest = sha256(secret);
  const AclToken* found = nullptr;
  for (const AclToken& token : tokens_) {
    // No early exit: the loop's length does not depend on which entry matched.
    const bool match = equal_constant_time(digest, token.secret_sha256);
    if (match && found == nullptr) found = &token;
  }
  return found;
}

bool AclPolicy::allows(const AclToken& token, Permission permission, std::string_view key) {
  if (token.admin) return true;
  switch (permission) {
    case Permission::kAdmin:
      return false;
    case Permission::kMetrics:
      return token.metrics;
    case Permission::kRead:
    case Permission::kWrite:
      for (const AclRule& rule : token.rules) {
        const bool op_ok = permission == Permission::kRead ? rule.read : rule.write;
        if (op_ok && key.substr(0, rule.prefix.size()) == rule.prefix) return true;
      }
      return false;
  }
  return false;
}

std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = header[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != kScheme[i]) return {};
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  return token;
}

std::string generate_token() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::string raw = random_bytes(32);
  std::string token;
  uint32_t bits = 0;
  int count = 0;
  for (unsigned char c : raw) {
    bits = (bits << 8) | c;
    count += 8;
    while (count >= 6) {
      count -= 6;
      token.push_back(kAlphabet[(bits >> count) & 0x3f]);
    }
  }
  if (count > 0) token.push_back(kAlphabet[(bits << (6 - count)) & 0x3f]);
  return token;
}

Result<std::shared_ptr<const AclPolicy>> AclFile::load(const std::string& path) {
  Result<std::string> text = read_small_file(path, kAclFileBytesMax);
  if (!text.ok()) return text.status();
  Result<AclPolicy> policy = AclPolicy::parse(text.value());
  if (!policy.ok()) return Status::InvalidArgument(path + ": " + policy.status().message());
  return std::shared_ptr<const AclPolicy>(std::make_shared<AclPolicy>(std::move(policy).value()));
}

Result<std::unique_ptr<AclFile>> AclFile::open(std::string path) {
  Result<std::shared_ptr<const AclPolicy>> policy = load(path);
  if (!policy.ok()) return policy.status();
  std::unique_ptr<AclFile> file(new AclFile(std::move(path)));
  std::atomic_store(&file->policy_, std::move(policy).value());
  return file;
}

std::shared_ptr<const AclPolicy> AclFile::current() const {
  return std::atomic_load(&policy_);
}

Status AclFile::reload() {
  Result<std::shared_ptr<const AclPolicy>> policy = load(path_);
  if (!policy.ok()) return policy.status();
  std::atomic_store(&policy_, std::move(policy).value());
  return Status::OK();
}

}  // namespace chorus::security
