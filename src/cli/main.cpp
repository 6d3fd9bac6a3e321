// chorusctl: command-line client and admin tool for a Chorus node's HTTP API (DESIGN.md §8).
//
//   chorusctl [--node URL] get KEY [--r N] [--base64] [--json]
//   chorusctl put KEY VALUE|- | --file PATH|- [--w N] [--ttl-s N] [--sync] [--json]
//   chorusctl del KEY [--w N] [--sync] [--json]
//   chorusctl status [--json]            chorusctl owners KEY [--json]
//   chorusctl decommission ID [--json]   chorusctl remove ID [--json]
//   chorusctl repair [--json]            chorusctl repair-status [--json]
//   chorusctl acl token --name NAME [--admin] [--metrics] [--read PREFIX]... [--write PREFIX]...
//       prints a new random token and the line to add to the node's --acl-file (needs no node)
//   chorusctl tls init --dir D --nodes n1,n2,n3 [--hosts h1,h2] [--days N]
//       writes a CA and per-node certificates for --tls-cert/--tls-key/--tls-ca (tls_init.h)
//
// --token (or $CHORUS_TOKEN) is sent as "Authorization: Bearer" to nodes started with --acl-file;
// --cacert (or $CHORUS_CACERT) verifies an https:// node (made with `chorusctl tls init`).
// --node defaults to $CHORUS_NODE, then http://127.0.0.1:8081. Exit codes: 0 success; 1 the node
// answered 4xx/5xx (404 on get included); 2 no answer from the node, or bad usage.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/node_client.h"
#include "cli/tls_init.h"
#include "core/limits.h"
#include "security/acl.h"
#include "security/cert_issuer.h"

namespace {

using namespace chorus::cli;

constexpr const char* kNodeDefault = "http://127.0.0.1:8081";
// Above the node's request deadline, so the node's own 504 arrives before we give up.
constexpr int kTimeoutMsDefault = 15'000;
constexpr int kTimeoutMsMax = 600'000;

struct AclTokenFlags {
  std::string name;
  bool admin = false;
  bool metrics = false;
  std::vector<std::string> read;
  std::vector<std::string> write;
};

struct Flags {
  std::string node = kNodeDefault;
  std::string token;
  std::string cacert;
  AclTokenFlags acl;
  TlsInitFlags tls;
  int timeout_ms = kTimeoutMsDefault;
  GetOptions get;
  PutOptions put;
  DelOptions del;
  bool status_json = false;
  std::string owners_key;
  bool owners_json = false;
  std::string node_id;
  bool node_json = false;
  bool repair_json = false;
  uint64_t ttl_s = 0;
  std::string value;
  std::string file;
};

const CLI::Validator kQuorum(
    [](std::string& value) {
      return is_quorum_value(value) ? std::string() : "must be a number, one, quorum or all";
    },
    "N|one|quorum|all");

void add_key(CLI::App* command, std::string* key) {
  command->add_option("key", *key, "the key (any bytes; percent-encoded on the wire)")->required();
}

void add_commands(CLI::App& app, Flags* f) {
  CLI::App* get = app.add_subcommand("get", "print a key's value (raw bytes)");
  add_key(get, &f->get.key);
  get->add_option("--r", f->get.r, "read quorum")->check(kQuorum);
  get->add_flag("--base64", f->get.base64, "print the value base64-encoded");
  get->add_flag("--json", f->get.json, "print the node's JSON answer");

  CLI::App* put = app.add_subcommand("put", "write a key");
  add_key(put, &f->put.key);
  CLI::Option* value =
      put->add_option("value", f->value, "the value (UTF-8 or bytes); '-' reads stdin");
  put->add_option("--file", f->file, "read the value from PATH ('-': stdin)")->excludes(value);
  put->add_option("--w", f->put.w, "write quorum")->check(kQuorum);
  put->add_option("--ttl-s", f->ttl_s, "expire after N seconds");
  put->add_flag("--sync", f->put.sync, "fsync on the replicas before acknowledging");
  put->add_flag("--json", f->put.json, "print the node's JSON answer");

  CLI::App* del = app.add_subcommand("del", "delete a key (a versioned tombstone)");
  add_key(del, &f->del.key);
  del->add_option("--w", f->del.w, "write quorum")->check(kQuorum);
  del->add_flag("--sync", f->del.sync, "fsync on the replicas before acknowledging");
  del->add_flag("--json", f->del.json, "print the node's JSON answer");

  CLI::App* status = app.add_subcommand("status", "show the cluster as this node sees it");
  status->add_flag("--json", f->status_json, "print the node's JSON answer");

  CLI::App* owners = app.add_subcommand("owners", "show a key's partition and replicas");
  add_key(owners, &f->owners_key);
  owners->add_flag("--json", f->owners_json, "print the node's JSON answer");

  CLI::App* decommission = app.add_subcommand(
      "decommission", "move a member's partitions to the others, then let it leave and exit");
  decommission->add_option("id", f->node_id, "the member's node id")->required();
  decommission->add_flag("--json", f->node_json, "print the node's JSON answer");
  CLI::App* remove = app.add_subcommand(
      "remove", "force a (dead) member out; its data comes back from the other replicas");
  remove->add_option("id", f->node_id, "the member's node id")->required();
  remove->add_flag("--json", f->node_json, "print the node's JSON answer");
  CLI::App* repair = app.add_subcommand(
      "repair", "start a full anti-entropy sweep of every partition the node replicates");
  repair->add_flag("--json", f->repair_json, "print the node's JSON answer");
  CLI::App* repair_status = app.add_subcommand(
      "repair-status", "show anti-entropy progress: verified epochs, exchanges in flight");
  repair_status->add_flag("--json", f->repair_json, "print the node's JSON answer");
}

void add_acl_commands(CLI::App& app, Flags* f) {
  CLI::App* acl = app.add_subcommand("acl", "access control helpers");
  acl->require_subcommand(1);
  CLI::App* token = acl->add_subcommand(
      "token", "print a new random token and its --acl-file entry (only the digest is stored)");
  token->add_option("--name", f->acl.name, "the token's name in the ACL")->required();
  token->add_flag("--admin", f->acl.admin, "every operation, cluster changes included");
  token->add_flag("--metrics", f->acl.metrics, "may scrape /metrics");
  token->add_option("--read", f->acl.read, "may read keys with this prefix (\"\" = every key)");
  token->add_option("--write", f->acl.write, "may write keys with this prefix");
}

void add_tls_commands(CLI::App& app, Flags* f) {
  CLI::App* tls = app.add_subcommand("tls", "TLS helpers");
  tls->require_subcommand(1);
  CLI::App* init = tls->add_subcommand(
      "init", "make a CA (or reuse the one in --dir) and a certificate per node (CN = node id)");
  init->add_option("--dir", f->tls.dir, "directory for the PEM files")->required();
  init->add_option("--nodes", f->tls.nodes, "node ids, comma-separated")
      ->required()
      ->delimiter(',');
  init->add_option("--hosts", f->tls.hosts,
                   "names and addresses clients and peers reach the nodes by (subjectAltNames)")
      ->delimiter(',')
      ->capture_default_str();
  init->add_option("--days", f->tls.days, "node certificate validity")
      ->check(CLI::Range(1u, chorus::security::kCertDaysMax))
      ->capture_default_str();
  init->add_option("--ca-days", f->tls.ca_days, "CA validity (when a new CA is made)")
      ->check(CLI::Range(1u, chorus::security::kCertDaysMax))
      ->capture_default_str();
}

// A new token and its ACL entry: {"name", "secret_sha256", "admin"?, "metrics"?, "rules"?}.
int run_acl_token(const AclTokenFlags& flags) {
  const std::string secret = chorus::security::generate_token();
  nlohmann::json entry{
      {"name", flags.name},
      {"secret_sha256", chorus::security::to_hex(chorus::security::sha256(secret))}};
  if (flags.admin) entry["admin"] = true;
  if (flags.metrics) entry["metrics"] = true;
  nlohmann::json rules = nlohmann::json::array();
  for (const std::string& prefix : flags.read) {
    const bool writes =
        std::find(flags.write.begin(), flags.write.end(), prefix) != flags.write.end();
    rules.push_back({{"prefix", prefix},
                     {"allow", writes ? nlohmann::json{"read", "write"} : nlohmann::json{"read"}}});
  }
  for (const std::string& prefix : flags.write) {
    if (std::find(flags.read.begin(), flags.read.end(), prefix) == flags.read.end()) {
      rules.push_back({{"prefix", prefix}, {"allow", {"write"}}});
    }
  }
  if (!rules.empty()) entry["rules"] = rules;
  if (!flags.admin && !flags.metrics && rules.empty()) {
    std::fprintf(stderr, "chorusctl: give the token --admin, --metrics, --read or --write\n");
    return kExitUnreachable;
  }
  std::printf("token: %s\n", secret.c_str());
  std::printf("acl entry (add to \"tokens\" in the --acl-file, then SIGHUP the nodes):\n%s\n",
              entry.dump().c_str());
  return kExitOk;
}

// Checks that CLI11 cannot express; prints the problem and returns false.
bool check_usage(const CLI::App& app, const std::string& key, Flags* f) {
  if (key.empty() || key.size() > chorus::kKeyBytesMax) {
    std::fprintf(stderr, "chorusctl: a key is 1..%zu bytes\n", chorus::kKeyBytesMax);
    return false;
  }
  const CLI::App* put = app.get_subcommand("put");
  if (put->parsed()) {
    // "put KEY -" reads the value from stdin, like "--file -".
    if (put->count("value")) (f->value == "-" ? f->put.file : f->put.value) = f->value;
    if (put->count("--file")) f->put.file = f->file;
    if (put->count("--ttl-s")) f->put.ttl_s = f->ttl_s;
    if (!f->put.value && !f->put.file) {
      std::fprintf(stderr, "chorusctl: put needs a VALUE or --file PATH\n");
      return false;
    }
  }
  return true;
}

int dispatch(const CLI::App& app, Flags* f) {
  if (app.got_subcommand("acl")) return run_acl_token(f->acl);
  if (app.got_subcommand("tls")) return run_tls_init(f->tls);
  chorus::Result<std::string> url = normalize_node_url(f->node);
  if (!url.ok()) {
    std::fprintf(stderr, "chorusctl: --node: %s\n", url.status().message().c_str());
    return kExitUnreachable;
  }
  NodeClient client(url.value(), f->timeout_ms, f->token, f->cacert);
  if (app.got_subcommand("status")) return run_status(client, f->status_json);
  if (app.got_subcommand("repair")) return run_repair(client, f->repair_json);
  if (app.got_subcommand("repair-status")) return run_repair_status(client, f->repair_json);
  if (app.got_subcommand("decommission")) {
    return run_node_action(client, f->node_id, "decommission", f->node_json);
  }
  if (app.got_subcommand("remove"))
    return run_node_action(client, f->node_id, "remove", f->node_json);
  const std::string& key = app.got_subcommand("get")   ? f->get.key
                           : app.got_subcommand("put") ? f->put.key
                           : app.got_subcommand("del") ? f->del.key
                                                       : f->owners_key;
  if (!check_usage(app, key, f)) return kExitUnreachable;
  if (app.got_subcommand("get")) return run_get(client, f->get);
  if (app.got_subcommand("put")) return run_put(client, f->put);
  if (app.got_subcommand("del")) return run_del(client, f->del);
  return run_owners(client, f->owners_key, f->owners_json);
}

int parse_and_run(int argc, char** argv) {
  Flags flags;
  CLI::App app{"chorusctl: client and admin CLI for a Chorus cluster"};
  app.add_option("--node", flags.node, "node to talk to (http://host:port)")
      ->envname("CHORUS_NODE")
      ->capture_default_str();
  app.add_option("--token", flags.token, "bearer token for nodes with an --acl-file")
      ->envname("CHORUS_TOKEN");
  app.add_option("--cacert", flags.cacert, "PEM CA file that verifies an https:// node")
      ->envname("CHORUS_CACERT");
  app.add_option("--timeout-ms", flags.timeout_ms, "read/write timeout")
      ->check(CLI::Range(1, kTimeoutMsMax))
      ->capture_default_str();
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  add_commands(app, &flags);
  add_acl_commands(app, &flags);
  add_tls_commands(app, &flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUnreachable;
  }
  return dispatch(app, &flags);
}

}  // namespace

int main(int argc, char** argv) {
  // A node that closes the connection mid-request is an error to report, not a reason to die:
  // OpenSSL writes with write(2), which raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return parse_and_run(argc, argv);
  } catch (const std::exception& e) {  // the edge: report, never crash without a word
    std::fprintf(stderr, "chorusctl: %s\n", e.what());
    return kExitUnreachable;
  }
}
