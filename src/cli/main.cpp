// chorusctl: command-line client and admin tool for a Chorus node's HTTP API (DESIGN.md §8).
//
//   chorusctl [--node URL] get KEY [--r N] [--base64] [--json]
//   chorusctl put KEY VALUE|- | --file PATH|- [--w N] [--ttl-s N] [--sync] [--json]
//   chorusctl del KEY [--w N] [--sync] [--json]
//   chorusctl status [--json]            chorusctl owners KEY [--json]
//   chorusctl decommission ID [--json]   chorusctl remove ID [--json]
//   chorusctl repair [--json]            chorusctl repair-status [--json]
//
// --node defaults to $CHORUS_NODE, then http://127.0.0.1:8081. Exit codes: 0 success; 1 the node
// answered 4xx/5xx (404 on get included); 2 no answer from the node, or bad usage.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "cli/node_client.h"
#include "core/limits.h"

namespace {

using namespace chorus::cli;

constexpr const char* kNodeDefault = "http://127.0.0.1:8081";
// Above the node's request deadline, so the node's own 504 arrives before we give up.
constexpr int kTimeoutMsDefault = 15'000;
constexpr int kTimeoutMsMax = 600'000;

struct Flags {
  std::string node = kNodeDefault;
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
  chorus::Result<std::string> url = normalize_node_url(f->node);
  if (!url.ok()) {
    std::fprintf(stderr, "chorusctl: --node: %s\n", url.status().message().c_str());
    return kExitUnreachable;
  }
  NodeClient client(url.value(), f->timeout_ms);
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
  app.add_option("--timeout-ms", flags.timeout_ms, "read/write timeout")
      ->check(CLI::Range(1, kTimeoutMsMax))
      ->capture_default_str();
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  add_commands(app, &flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUnreachable;
  }
  return dispatch(app, &flags);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return parse_and_run(argc, argv);
  } catch (const std::exception& e) {  // the edge: report, never crash without a word
    std::fprintf(stderr, "chorusctl: %s\n", e.what());
    return kExitUnreachable;
  }
}
