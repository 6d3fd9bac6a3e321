// BenchConfig: what one chorus-bench run does (targets, concurrency, workload, quorums), the limits
// every setting is held to, and the validation that enforces them before any socket is opened.
//
// Thread-safety: plain values; the run reads its config without locks once it started.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.h"
#include "core/status.h"

namespace chorus::bench {

// Each connection costs a socket and two ~20 KiB histograms; 4096 stays far below fd limits.
constexpr int kConnectionsMax = 4096;
constexpr int kThreadsMax = 64;
constexpr size_t kTargetsMax = 256;
// Zipfian with theta != 0.99 sums zeta over every key at start-up: 10^8 terms take ~1 s.
constexpr uint64_t kKeysMax = 100'000'000;
constexpr uint64_t kDurationSecondsMax = 24 * 3600;
constexpr uint64_t kWarmupSecondsMax = 3600;
// The node refuses values above its --max-value-bytes, whose default this is.
constexpr size_t kValueBytesMax = kValueBytesMaxDefault;
// Longer than the node's request deadline, so a node's 504 arrives before the bench gives up.
constexpr uint64_t kRequestTimeoutMsDefault = 10'000;
constexpr uint64_t kRequestTimeoutMsMax = 600'000;
// ?r= / ?w= as a number: far above any replication factor, low enough to catch typos.
constexpr int kQuorumNumberMax = 64;

enum class Distribution { kUniform, kZipfian };

struct Target {
  std::string host;
  std::string port;  // decimal 1..65535, kept as text for the resolver
};

struct BenchConfig {
  std::vector<Target> targets;
  int connections = 64;
  int threads = 1;
  uint64_t duration_s = 30;
  uint64_t warmup_s = 2;
  uint64_t keys = 100'000;
  size_t value_bytes = 100;
  double read_ratio = 0.5;
  Distribution distribution = Distribution::kUniform;
  double zipf_theta = 0.99;
  std::string write_quorum;  // ?w=; empty: the node's default
  std::string read_quorum;   // ?r=; empty: the node's default
  uint64_t seed = 1;
  std::string json_path;  // empty: no JSON report
  bool preload = true;
  uint64_t timeout_ms = kRequestTimeoutMsDefault;
  std::string token;   // sent as "Authorization: Bearer" when not empty (nodes with --acl-file)
  std::string cacert;  // not empty: HTTPS, verifying each target against this PEM CA file
};

// "host:port,host:port" -> targets, in order. Hosts may be names or IPv4 addresses; "[::1]:80"
// style IPv6 is accepted too. Fails on an empty list, an empty host, a bad port, or more than
// kTargetsMax targets.
[[nodiscard]] Result<std::vector<Target>> parse_targets(std::string_view list);

// A ?r= / ?w= value as DESIGN.md §8 accepts it: "" (omit), 1..kQuorumNumberMax, one, quorum, all.
[[nodiscard]] Status check_quorum(std::string_view value);

// Every field within its limits; InvalidArgument naming the first flag that is not.
[[nodiscard]] Status validate(const BenchConfig& config);

const char* distribution_name(Distribution distribution);

}  // namespace chorus::bench
