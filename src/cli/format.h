// The pure half of chorusctl: building request paths and bodies for the HTTP API (DESIGN.md §8)
// and turning its JSON answers into what the user reads. No I/O here, so all of it is unit-tested
// (tests/unit/cli).
//
// Functions that read server JSON never throw: missing or oddly typed fields print as "-", and a
// document that is not the expected shape is reported as an error Status.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace chorus::cli {

// Exit codes: what scripts branch on.
constexpr int kExitOk = 0;
constexpr int kExitRequestFailed = 1;  // the node answered 4xx/5xx (including 404 on get)
constexpr int kExitUnreachable = 2;    // no answer (connect/read failure), or bad usage

// JSON text that never throws (dump() does on invalid UTF-8): such bytes print as U+FFFD.
// indent -1: one line.
std::string json_text(const nlohmann::json& doc, int indent);

// 2xx -> kExitOk, 0 (no response) -> kExitUnreachable, anything else -> kExitRequestFailed.
int exit_code_for_status(int http_status);

// "127.0.0.1:8081" -> "http://127.0.0.1:8081"; "http://h:1/" -> "http://h:1". Only http and https
// with no path are accepted (InvalidArgument otherwise).
[[nodiscard]] Result<std::string> normalize_node_url(std::string_view text);

// True for a ?r= / ?w= value the API accepts: a positive number, "one", "quorum" or "all".
bool is_quorum_value(std::string_view value);

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// "/v1/kv/<percent-encoded key>" plus "?name=value&..." (values percent-encoded) when params are
// given, in order.
std::string kv_path(std::string_view key, const QueryParams& params);
// "/v1/debug/owners/<percent-encoded key>".
std::string owners_path(std::string_view key);

// The JSON body of a PUT: {"value": ...} when `value` is valid UTF-8, else {"value_base64": ...};
// plus "ttl_s" when given.
std::string put_json_body(std::string_view value, std::optional<uint64_t> ttl_s);

// The value bytes of a GET answer: "value" as UTF-8 bytes, or "value_base64" decoded. Corruption
// when the document has neither or the base64 is malformed.
[[nodiscard]] Result<std::string> value_from_get(const nlohmann::json& doc);

// One line for stderr describing a failed request: "HTTP 503: unavailable: 1 of 3 replicas
// answered" from the API's {"error","message"} body, or the start of the raw body otherwise.
std::string describe_http_error(int http_status, std::string_view body);

// One line for stdout after a PUT/DELETE: "ok: timestamp 123, acks 2" (fields shown if present).
std::string describe_write(const nlohmann::json& doc);

// `chorusctl status`: a header line (node, epoch, partitions, replicas, raft role/term/leader) and
// a table with one row per member (id, peer, http, state, partitions owned). InvalidArgument when
// `doc` is not a JSON object.
[[nodiscard]] Result<std::string> format_cluster_status(const nlohmann::json& doc);

// `chorusctl owners`: key, partition, epoch, then the preference list in order. A document
// without an "owners" array is printed as indented JSON.
std::string format_owners(const nlohmann::json& doc);

// `chorusctl repair-status`: a summary line (closed epoch, partitions verified, dirty and
// unverified epochs, keys repaired), the exchanges in flight, then one row per partition that is
// not fully verified. A document without a "partitions" array is printed as indented JSON.
std::string format_repair_status(const nlohmann::json& doc);

}  // namespace chorus::cli
