// chorusctl subcommands (see commands.h).
#include "cli/commands.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/format.h"
#include "core/limits.h"
#include "core/text.h"

namespace chorus::cli {
namespace {

using nlohmann::json;

// Prints why `reply` failed, if it did. Returns the exit code (kExitOk when it succeeded).
int check_reply(const NodeClient& client, const Reply& reply) {
  if (reply.status == 0) {
    std::fprintf(stderr, "chorusctl: no answer from %s: %s\n", client.base_url().c_str(),
                 reply.error.c_str());
    return kExitUnreachable;
  }
  const int code = exit_code_for_status(reply.status);
  if (code != kExitOk) {
    std::fprintf(stderr, "chorusctl: %s\n", describe_http_error(reply.status, reply.body).c_str());
  }
  return code;
}

// The body of a successful reply as JSON; prints an error and returns a discarded value if it is
// not JSON.
json parse_body(const Reply& reply) {
  json doc = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) std::fprintf(stderr, "chorusctl: the node answered with invalid JSON\n");
  return doc;
}

// Writes bytes to stdout; false (with a message) if stdout is gone (closed pipe, full disk).
bool write_stdout(const std::string& bytes) {
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size() &&
                  std::fflush(stdout) == 0;
  if (!ok) std::fprintf(stderr, "chorusctl: cannot write to stdout\n");
  return ok;
}

int print_json(const json& doc) {
  return write_stdout(json_text(doc, 2) + "\n") ? kExitOk : kExitRequestFailed;
}

// Reads at most kValueBytesMaxLimit bytes from `path` ("-": stdin) into *value.
bool read_value_file(const std::string& path, std::string* value) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "chorusctl: cannot open %s\n", path.c_str());
      return false;
    }
    in = &file;
  }
  // One byte past the limit tells "exactly at the limit" from "too large" without reading it all.
  value->resize(kValueBytesMaxLimit + 1);
  in->read(value->data(), static_cast<std::streamsize>(value->size()));
  value->resize(static_cast<size_t>(in->gcount()));
  if (in->bad()) {
    std::fprintf(stderr, "chorusctl: cannot read %s\n", path.c_str());
    return false;
  }
  if (value->size() > kValueBytesMaxLimit) {
    std::fprintf(stderr, "chorusctl: %s is larger than %zu bytes\n", path.c_str(),
                 kValueBytesMaxLimit);
    return false;
  }
  return true;
}

QueryParams write_params(const std::string& w, bool sync) {
  QueryParams params;
  if (!w.empty()) params.emplace_back("w", w);
  if (sync) params.emplace_back("sync", "true");
  return params;
}

int finish_write(const NodeClient& client, const Reply& reply, bool as_json) {
  if (int code = check_reply(client, reply); code != kExitOk) return code;
  const json doc = parse_body(reply);
  if (doc.is_discarded()) return kExitRequestFailed;
  if (as_json) return print_json(doc);
  return write_stdout(describe_write(doc)) ? kExitOk : kExitRequestFailed;
}

}  // namespace

int run_get(NodeClient& client, const GetOptions& options) {
  QueryParams params;
  if (!options.r.empty()) params.emplace_back("r", options.r);
  const Reply reply = client.get(kv_path(options.key, params));
  if (reply.status == 404) {
    std::fprintf(stderr, "chorusctl: not found: %s\n", options.key.c_str());
    return kExitRequestFailed;
  }
  if (int code = check_reply(client, reply); code != kExitOk) return code;
  const json doc = parse_body(reply);
  if (doc.is_discarded()) return kExitRequestFailed;
  if (options.json) return print_json(doc);
  Result<std::string> value = value_from_get(doc);
  if (!value.ok()) {
    std::fprintf(stderr, "chorusctl: %s\n", value.status().message().c_str());
    return kExitRequestFailed;
  }
  std::string out = options.base64 ? base64_encode(value.value()) + "\n" : value.value();
  // Raw bytes for pipes and files; a newline only for a human at a terminal.
  if (!options.base64 && isatty(STDOUT_FILENO)) out += '\n';
  return write_stdout(out) ? kExitOk : kExitRequestFailed;
}

int run_put(NodeClient& client, const PutOptions& options) {
  const std::string path = kv_path(options.key, write_params(options.w, options.sync));
  if (options.value) {
    return finish_write(
        client, client.put(path, put_json_body(*options.value, options.ttl_s), "application/json"),
        options.json);
  }
  std::string value;
  if (!options.file || !read_value_file(*options.file, &value)) return kExitUnreachable;
  // A raw body cannot carry a TTL (DESIGN.md §8), so a TTL switches to the JSON form.
  const Reply reply =
      options.ttl_s ? client.put(path, put_json_body(value, options.ttl_s), "application/json")
                    : client.put(path, value, "application/octet-stream");
  return finish_write(client, reply, options.json);
}

int run_del(NodeClient& client, const DelOptions& options) {
  const Reply reply = client.del(kv_path(options.key, write_params(options.w, options.sync)));
  return finish_write(client, reply, options.json);
}

int run_status(NodeClient& client, bool as_json) {
  const Reply reply = client.get("/v1/cluster");
  if (int code = check_reply(client, reply); code != kExitOk) return code;
  const json doc = parse_body(reply);
  if (doc.is_discarded()) return kExitRequestFailed;
  if (as_json) return print_json(doc);
  Result<std::string> table = format_cluster_status(doc);
  if (!table.ok()) {
    std::fprintf(stderr, "chorusctl: %s\n", table.status().message().c_str());
    return kExitRequestFailed;
  }
  return write_stdout(table.value()) ? kExitOk : kExitRequestFailed;
}

int run_owners(NodeClient& client, const std::string& key, bool as_json) {
  const Reply reply = client.get(owners_path(key));
  if (int code = check_reply(client, reply); code != kExitOk) return code;
  const json doc = parse_body(reply);
  if (doc.is_discarded()) return kExitRequestFailed;
  return as_json ? print_json(doc)
                 : (write_stdout(format_owners(doc)) ? kExitOk : kExitRequestFailed);
}

int run_node_action(NodeClient& client, const std::string& id, const std::string& action,
                    bool as_json) {
  const Reply reply = client.post("/v1/cluster/nodes/" + percent_encode(id) + "/" + action, "");
  if (int code = check_reply(client, reply); code != kExitOk) return code;
  const json doc = parse_body(reply);
  if (doc.is_discarded()) return kExitRequestFailed;
  if (as_json) return print_json(doc);
  const std::string what = action == "remove"
                               ? "its partitions move to the other members, then it is removed"
                               : "it leaves once its partitions are streamed to the others";
  return write_stdout(action + " of " + id + " accepted: " + what + " (watch: chorusctl status)\n")
             ? kExitOk
             : kExitRequestFailed;
}

int run_repair(NodeClient& client, bool as_json) {
  const Reply reply = client.post("/v1/admin/repair", "");
  if (int code = check_reply(client, reply); code != kExitOk) return code;
  const json doc = parse_body(reply);
  if (doc.is_discarded()) return kExitRequestFailed;
  if (as_json) return print_json(doc);
  return write_stdout(
             "repair queued: a full anti-entropy sweep of every partition this node "
             "replicates (watch: chorusctl repair-status)\n")
             ? kExitOk
             : kExitRequestFailed;
}

int run_repair_status(NodeClient& client, bool as_json) {
  const Reply reply = client.get("/v1/admin/repair");
  if (int code = check_reply(client, reply); code != kExitOk) return code;
  const json doc = parse_body(reply);
  if (doc.is_discarded()) return kExitRequestFailed;
  if (as_json) return print_json(doc);
  return write_stdout(format_repair_status(doc)) ? kExitOk : kExitRequestFailed;
}

}  // namespace chorus::cli
