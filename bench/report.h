// Run statistics and the report built from them: the table chorus-bench prints to stdout and the
// JSON document --json writes.
//
// Counting rules: a request counts in the window it *started* in (preload, warmup or measured);
// only measured ones reach the report. A success (2xx, or 404 on GET) adds its latency to the op's
// histogram; anything else is an error, counted per op and by cause. Connection attempts that fail
// belong to no op: they appear in the "all" row and under "connect".
//
// Thread-safety: plain values; each connection fills its own and the runner merges them after the
// I/O threads stopped.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/config.h"
#include "bench/histogram.h"
#include "bench/workload.h"

namespace chorus::bench {

// HTTP statuses are three digits; anything else from a server is counted as an I/O error.
constexpr int kHttpStatusMin = 100;
constexpr int kHttpStatusEnd = 600;

struct ErrorCounts {
  std::array<uint64_t, kHttpStatusEnd> by_status{};  // unsuccessful responses, by HTTP status
  uint64_t connect = 0;  // connection refused, unreachable, or connect timed out
  uint64_t timeout = 0;  // no complete response within --timeout-ms
  uint64_t io = 0;       // connection reset or closed mid-request, malformed response

  void merge(const ErrorCounts& other);
  uint64_t total() const;
};

struct OpStats {
  LatencyHistogram latency;  // successes only; latency.count() is the success count
  uint64_t errors = 0;

  void merge(const OpStats& other);
};

struct RunStats {
  std::array<OpStats, kOpCount> ops;
  ErrorCounts errors;
  double measured_s = 0.0;
  uint64_t preload_ok = 0;
  uint64_t preload_errors = 0;
  double preload_s = 0.0;

  // Everything but the timings (measured_s, preload_s), which the runner owns.
  void merge_counts(const RunStats& other);
  uint64_t successes() const;
};

// The stdout report: one line describing the run, a table with one row per op and "all" (count,
// ops/s, errors, p50/p95/p99/max in ms), then the error causes when there were any.
std::string format_report(const RunStats& stats, const BenchConfig& config);

// The same figures as JSON: {"config", "measured_s", "preload", "ops": {"get","put","all"},
// "errors"}; latencies in milliseconds.
nlohmann::json report_json(const RunStats& stats, const BenchConfig& config);

}  // namespace chorus::bench
