// Request building and response formatting for chorusctl (see format.h).
#include "cli/format.h"

#include <algorithm>
#include <cctype>

#include "core/text.h"

namespace chorus::cli {
namespace {

using nlohmann::json;

// How much of a non-JSON error body to show: enough for a proxy's one-line error page.
constexpr size_t kErrorBodyShownBytesMax = 200;

// A field as text: strings as they are, numbers and booleans as JSON, "-" when absent or null.
std::string text_of(const json& doc, const char* name) {
  if (!doc.is_object()) return "-";
  const auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_primitive()) return json_text(*it, -1);
  return "-";
}

bool has_field(const json& doc, const char* name) {
  return doc.is_object() && doc.contains(name) && !doc.at(name).is_null();
}

// Left-aligned columns two spaces apart, sized to their widest cell.
std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string cluster_header(const json& doc) {
  std::string line = "node " + text_of(doc, "node") + "  epoch " + text_of(doc, "epoch") +
                     "  partitions " + text_of(doc, "partitions") + "  replicas " +
                     text_of(doc, "replicas");
  if (has_field(doc, "raft")) {
    const json& raft = doc.at("raft");
    line += "  raft " + text_of(raft, "role") + " term " + text_of(raft, "term") + " leader " +
            text_of(raft, "leader");
  }
  if (doc.contains("formed") && doc.at("formed") == false) line += "  (ring not formed)";
  if (has_field(doc, "transition") && doc.at("transition").is_object()) {
    const json& t = doc.at("transition");
    line += "\ntransition " + text_of(t, "id") + ": " + text_of(t, "partitions_pending") + " of " +
            text_of(t, "partitions_total") + " partitions still moving";
  }
  return line + "\n";
}

}  // namespace

std::string json_text(const json& doc, int indent) {
  return doc.dump(indent, ' ', false, json::error_handler_t::replace);
}

int exit_code_for_status(int http_status) {
  if (http_status == 0) return kExitUnreachable;
  return http_status >= 200 && http_status < 300 ? kExitOk : kExitRequestFailed;
}

Result<std::string> normalize_node_url(std::string_view text) {
  std::string url(text);
  if (url.find("://") == std::string::npos) url = "http://" + url;
  const size_t scheme_end = url.find("://");
  const std::string scheme = url.substr(0, scheme_end);
  std::string authority = url.substr(scheme_end + 3);
  while (!authority.empty() && authority.back() == '/') authority.pop_back();
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument("node URL scheme must be http or https: " + std::string(text));
  }
  if (authority.empty() || authority.find_first_of("/?#") != std::string::npos) {
    return Status::InvalidArgument("node URL must be scheme://host:port: " + std::string(text));
  }
  return scheme + "://" + authority;
}

bool is_quorum_value(std::string_view value) {
  if (value == "one" || value == "quorum" || value == "all") return true;
  if (value.empty() || value.size() > 3 || value.front() == '0') return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

std::string kv_path(std::string_view key, const QueryParams& params) {
  std::string path = "/v1/kv/" + percent_encode(key);
  char separator = '?';
  for (const auto& [name, value] : params) {
    path += separator;
    path += percent_encode(name) + "=" + percent_encode(value);
    separator = '&';
  }
  return path;
}

std::string owners_path(std::string_view key) {
  return "/v1/debug/owners/" + percent_encode(key);
}

std::string put_json_body(std::string_view value, std::optional<uint64_t> ttl_s) {
  json body = json::object();
  if (is_valid_utf8(value)) {
    body["value"] = std::string(value);
  } else {
    body["value_base64"] = base64_encode(value);
  }
  if (ttl_s) body["ttl_s"] = *ttl_s;
  return body.dump();
}

Result<std::string> value_from_get(const json& doc) {
  if (doc.is_object()) {
    const auto value = doc.find("value");
    if (value != doc.end() && value->is_string()) return value->get<std::string>();
    const auto base64 = doc.find("value_base64");
    if (base64 != doc.end() && base64->is_string()) {
      Result<std::string> bytes = base64_decode(base64->get<std::string>());
      if (!bytes.ok()) return Status::Corruption("value_base64: " + bytes.status().message());
      return bytes;
    }
  }
  return Status::Corruption("response has neither \"value\" nor \"value_base64\"");
}

std::string describe_http_error(int http_status, std::string_view body) {
  std::string line = "HTTP " + std::to_string(http_status);
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && (has_field(doc, "error") || has_field(doc, "message"))) {
    if (has_field(doc, "error")) line += ": " + text_of(doc, "error");
    if (has_field(doc, "message")) line += ": " + text_of(doc, "message");
    return line;
  }
  std::string shown(body.substr(0, std::min(body.size(), kErrorBodyShownBytesMax)));
  std::replace_if(
      shown.begin(), shown.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  if (!shown.empty()) line += ": " + shown;
  if (body.size() > kErrorBodyShownBytesMax) line += "...";
  return line;
}

std::string describe_write(const json& doc) {
  std::string line = "ok";
  const char* separator = ": ";
  for (const char* name : {"timestamp", "acks", "node"}) {
    if (!has_field(doc, name)) continue;
    line += separator + std::string(name) + " " + text_of(doc, name);
    separator = ", ";
  }
  return line + "\n";
}

Result<std::string> format_cluster_status(const json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("cluster status is not a JSON object");
  std::string out = cluster_header(doc);
  const auto members = doc.find("members");
  if (members == doc.end() || !members->is_array() || members->empty()) {
    return out + "(no members)\n";
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "PEER", "HTTP", "STATE", "PARTITIONS"}};
  // STATE is alive/suspect/dead from gossip, or joining/leaving while data moves.
  for (const json& member : *members) {
    rows.push_back({text_of(member, "id"), text_of(member, "peer"), text_of(member, "http"),
                    text_of(member, "state"), text_of(member, "partitions")});
  }
  return out + "\n" + format_table(rows);
}

std::string format_owners(const json& doc) {
  const auto owners = doc.is_object() ? doc.find("owners") : doc.end();
  if (!doc.is_object() || owners == doc.end() || !owners->is_array())
    return json_text(doc, 2) + "\n";
  std::string out = "key " + text_of(doc, "key") + "  partition " + text_of(doc, "partition") +
                    "  epoch " + text_of(doc, "epoch") + "\n";
  std::vector<std::vector<std::string>> rows = {{"#", "ID", "STATE"}};
  size_t rank = 0;
  for (const json& owner : *owners) {
    // An owner may be an object {"id","state"} or just an id.
    const bool is_object = owner.is_object();
    rows.push_back({std::to_string(++rank),
                    is_object
                        ? text_of(owner, "id")
                        : (owner.is_string() ? owner.get<std::string>() : json_text(owner, -1)),
                    is_object ? text_of(owner, "state") : "-"});
  }
  return out + format_table(rows);
}

std::string format_repair_status(const json& doc) {
  const auto partitions = doc.is_object() ? doc.find("partitions") : doc.end();
  if (!doc.is_object() || partitions == doc.end() || !partitions->is_array()) {
    return json_text(doc, 2) + "\n";
  }
  std::string out = "closed through epoch " + text_of(doc, "closed_through") + "  partitions " +
                    text_of(doc, "partitions_verified") + "/" +
                    text_of(doc, "partitions_replicated") + " verified  dirty epochs " +
                    text_of(doc, "epochs_dirty") + "  unverified epochs " +
                    text_of(doc, "epochs_unverified") + "  keys repaired " +
                    text_of(doc, "keys_repaired") + "  queued " + text_of(doc, "queued") + "\n";
  const auto in_flight = doc.find("in_flight");
  if (in_flight != doc.end() && in_flight->is_array() && !in_flight->empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"PARTITION", "KIND", "EPOCH", "PEER", "PHASE", "RUNNING_MS"}};
    for (const json& f : *in_flight) {
      rows.push_back(
          {text_of(f, "partition"), f.is_object() && f.value("sweep", false) ? "sweep" : "epochs",
           text_of(f, "epoch"), text_of(f, "peer"), text_of(f, "phase"), text_of(f, "running_ms")});
    }
    out += "in flight:\n" + format_table(rows);
  }
  std::vector<std::vector<std::string>> rows = {
      {"PARTITION", "VERIFIED_THROUGH", "DIRTY", "UNVERIFIED", "INITIATOR"}};
  for (const json& p : *partitions) {
    if (!p.is_object()) continue;
    if (p.value("dirty", 0) == 0 && p.value("unverified", 0) == 0) continue;
    rows.push_back({text_of(p, "partition"), text_of(p, "verified_through"), text_of(p, "dirty"),
                    text_of(p, "unverified"), p.value("initiator", false) ? "yes" : "no"});
  }
  if (rows.size() > 1) {
    out += "partitions not yet verified:\n" + format_table(rows);
  } else {
    out += "every replicated partition is verified through the closed epoch\n";
  }
  return out;
}

}  // namespace chorus::cli
