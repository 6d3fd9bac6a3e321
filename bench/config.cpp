// BenchConfig parsing helpers and validation (see config.h).
#include "bench/config.h"

#include <cctype>

namespace chorus::bench {
namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

Result<Target> parse_target(std::string_view item) {
  std::string_view host;
  std::string_view port;
  if (!item.empty() && item.front() == '[') {  // [v6-address]:port
    const size_t close = item.find(']');
    if (close == std::string_view::npos || close + 1 >= item.size() || item[close + 1] != ':') {
      return Status::InvalidArgument("target \"" + std::string(item) + "\" is not [host]:port");
    }
    host = item.substr(1, close - 1);
    port = item.substr(close + 2);
  } else {
    const size_t colon = item.rfind(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument("target \"" + std::string(item) + "\" has no :port");
    }
    host = item.substr(0, colon);
    port = item.substr(colon + 1);
  }
  if (host.empty())
    return Status::InvalidArgument("target \"" + std::string(item) + "\" has no host");
  if (!all_digits(port) || port.size() > 5 || std::stoul(std::string(port)) == 0 ||
      std::stoul(std::string(port)) > 65535) {
    return Status::InvalidArgument("target \"" + std::string(item) + "\" has a bad port");
  }
  return Target{std::string(host), std::string(port)};
}

}  // namespace

Result<std::vector<Target>> parse_targets(std::string_view list) {
  std::vector<Target> targets;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    if (!item.empty()) {
      if (targets.size() == kTargetsMax) {
        return Status::InvalidArgument("more than " + std::to_string(kTargetsMax) + " targets");
      }
      Result<Target> target = parse_target(item);
      if (!target.ok()) return target.status();
      targets.push_back(std::move(target.value()));
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (targets.empty()) return Status::InvalidArgument("no targets given");
  return targets;
}

Status check_quorum(std::string_view value) {
  if (value.empty() || value == "one" || value == "quorum" || value == "all") return Status::OK();
  if (all_digits(value) && value.size() <= 2) {
    const int number = std::stoi(std::string(value));
    if (number >= 1 && number <= kQuorumNumberMax) return Status::OK();
  }
  return Status::InvalidArgument("\"" + std::string(value) + "\" is not 1.." +
                                 std::to_string(kQuorumNumberMax) + ", one, quorum or all");
}

Status validate(const BenchConfig& config) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument(what); };
  if (config.targets.empty()) return bad("--targets: none given");
  if (config.connections < 1 || config.connections > kConnectionsMax) {
    return bad("--connections must be 1.." + std::to_string(kConnectionsMax));
  }
  if (config.threads < 1 || config.threads > kThreadsMax) {
    return bad("--threads must be 1.." + std::to_string(kThreadsMax));
  }
  if (config.duration_s < 1 || config.duration_s > kDurationSecondsMax) {
    return bad("--duration-s must be 1.." + std::to_string(kDurationSecondsMax));
  }
  if (config.warmup_s > kWarmupSecondsMax) {
    return bad("--warmup-s must be 0.." + std::to_string(kWarmupSecondsMax));
  }
  if (config.keys < 1 || config.keys > kKeysMax) {
    return bad("--keys must be 1.." + std::to_string(kKeysMax));
  }
  if (config.value_bytes > kValueBytesMax) {
    return bad("--value-bytes must be 0.." + std::to_string(kValueBytesMax));
  }
  if (!(config.read_ratio >= 0.0 && config.read_ratio <= 1.0)) {
    return bad("--read-ratio must be in [0, 1]");
  }
  if (!(config.zipf_theta > 0.0 && config.zipf_theta < 1.0)) {
    return bad("--zipf-theta must be in (0, 1)");
  }
  if (Status st = check_quorum(config.write_quorum); !st.ok()) return bad("--w: " + st.message());
  if (Status st = check_quorum(config.read_quorum); !st.ok()) return bad("--r: " + st.message());
  if (config.timeout_ms < 1 || config.timeout_ms > kRequestTimeoutMsMax) {
    return bad("--timeout-ms must be 1.." + std::to_string(kRequestTimeoutMsMax));
  }
  return Status::OK();
}

const char* distribution_name(Distribution distribution) {
  return distribution == Distribution::kZipfian ? "zipfian" : "uniform";
}

}  // namespace chorus::bench
