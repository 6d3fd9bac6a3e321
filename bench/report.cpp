// Run statistics merging and the text/JSON reports (see report.h).
#include "bench/report.h"

#include <cstdio>

namespace chorus::bench {
namespace {

constexpr double kPercentiles[] = {50.0, 95.0, 99.0};

double ms(uint64_t micros) {
  return static_cast<double>(micros) / 1000.0;
}

double per_second(uint64_t count, double seconds) {
  return seconds > 0.0 ? static_cast<double>(count) / seconds : 0.0;
}

// A row of the table: a label, the histogram of successes and the error count.
struct Row {
  const char* label;
  const LatencyHistogram* latency;
  uint64_t errors;
};

std::string format_row(const Row& row, double seconds) {
  const LatencyHistogram& h = *row.latency;
  char line[256];
  std::snprintf(line, sizeof(line), "%-4s %12llu %12.1f %10llu %9.3f %9.3f %9.3f %9.3f\n",
                row.label, static_cast<unsigned long long>(h.count()),
                per_second(h.count(), seconds), static_cast<unsigned long long>(row.errors),
                ms(h.value_at_percentile(kPercentiles[0])),
                ms(h.value_at_percentile(kPercentiles[1])),
                ms(h.value_at_percentile(kPercentiles[2])), ms(h.max_micros()));
  return line;
}

nlohmann::json row_json(const Row& row, double seconds) {
  const LatencyHistogram& h = *row.latency;
  return {{"count", h.count()},
          {"ops_per_s", per_second(h.count(), seconds)},
          {"errors", row.errors},
          {"latency_ms",
           {{"p50", ms(h.value_at_percentile(50.0))},
            {"p95", ms(h.value_at_percentile(95.0))},
            {"p99", ms(h.value_at_percentile(99.0))},
            {"max", ms(h.max_micros())},
            {"mean", h.mean_micros() / 1000.0}}}};
}

std::string describe_run(const BenchConfig& config) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "chorus-bench: %d connections over %zu target(s), %d thread(s), %llu keys (%s), "
                "read-ratio %.2f, value %zu B, w=%s r=%s\n",
                config.connections, config.targets.size(), config.threads,
                static_cast<unsigned long long>(config.keys),
                distribution_name(config.distribution), config.read_ratio, config.value_bytes,
                config.write_quorum.empty() ? "default" : config.write_quorum.c_str(),
                config.read_quorum.empty() ? "default" : config.read_quorum.c_str());
  return line;
}

std::string describe_errors(const ErrorCounts& errors) {
  std::string text = "errors:";
  for (int status = kHttpStatusMin; status < kHttpStatusEnd; ++status) {
    if (errors.by_status[status] > 0) {
      text += " http_" + std::to_string(status) + "=" + std::to_string(errors.by_status[status]);
    }
  }
  if (errors.connect > 0) text += " connect=" + std::to_string(errors.connect);
  if (errors.timeout > 0) text += " timeout=" + std::to_string(errors.timeout);
  if (errors.io > 0) text += " io=" + std::to_string(errors.io);
  return text + "\n";
}

}  // namespace

void ErrorCounts::merge(const ErrorCounts& other) {
  for (size_t i = 0; i < by_status.size(); ++i) by_status[i] += other.by_status[i];
  connect += other.connect;
  timeout += other.timeout;
  io += other.io;
}

uint64_t ErrorCounts::total() const {
  uint64_t sum = connect + timeout + io;
  for (uint64_t count : by_status) sum += count;
  return sum;
}

void OpStats::merge(const OpStats& other) {
  latency.merge(other.latency);
  errors += other.errors;
}

void RunStats::merge_counts(const RunStats& other) {
  for (int i = 0; i < kOpCount; ++i) ops[i].merge(other.ops[i]);
  errors.merge(other.errors);
  preload_ok += other.preload_ok;
  preload_errors += other.preload_errors;
}

uint64_t RunStats::successes() const {
  uint64_t sum = 0;
  for (const OpStats& op : ops) sum += op.latency.count();
  return sum;
}

std::string format_report(const RunStats& stats, const BenchConfig& config) {
  LatencyHistogram all = stats.ops[0].latency;
  all.merge(stats.ops[1].latency);
  const Row rows[] = {
      {"get", &stats.ops[0].latency, stats.ops[0].errors},
      {"put", &stats.ops[1].latency, stats.ops[1].errors},
      {"all", &all, stats.errors.total()},
  };
  std::string text = describe_run(config);
  char line[256];
  std::snprintf(line, sizeof(line), "measured %.2f s", stats.measured_s);
  text += line;
  if (config.preload) {
    std::snprintf(line, sizeof(line), " after preloading %llu keys in %.2f s (%llu errors)",
                  static_cast<unsigned long long>(stats.preload_ok + stats.preload_errors),
                  stats.preload_s, static_cast<unsigned long long>(stats.preload_errors));
    text += line;
  }
  text += "\n\n";
  std::snprintf(line, sizeof(line), "%-4s %12s %12s %10s %9s %9s %9s %9s\n", "op", "count", "ops/s",
                "errors", "p50 ms", "p95 ms", "p99 ms", "max ms");
  text += line;
  for (const Row& row : rows) text += format_row(row, stats.measured_s);
  if (stats.errors.total() > 0) text += "\n" + describe_errors(stats.errors);
  return text;
}

nlohmann::json report_json(const RunStats& stats, const BenchConfig& config) {
  LatencyHistogram all = stats.ops[0].latency;
  all.merge(stats.ops[1].latency);
  nlohmann::json targets = nlohmann::json::array();
  for (const Target& target : config.targets) targets.push_back(target.host + ":" + target.port);
  nlohmann::json http_errors = nlohmann::json::object();
  for (int status = kHttpStatusMin; status < kHttpStatusEnd; ++status) {
    if (stats.errors.by_status[status] > 0) {
      http_errors[std::to_string(status)] = stats.errors.by_status[status];
    }
  }
  return {
      {"config",
       {{"targets", targets},
        {"connections", config.connections},
        {"threads", config.threads},
        {"duration_s", config.duration_s},
        {"warmup_s", config.warmup_s},
        {"keys", config.keys},
        {"value_bytes", config.value_bytes},
        {"read_ratio", config.read_ratio},
        {"distribution", distribution_name(config.distribution)},
        {"zipf_theta", config.zipf_theta},
        {"w", config.write_quorum},
        {"r", config.read_quorum},
        {"seed", config.seed},
        {"preload", config.preload}}},
      {"measured_s", stats.measured_s},
      {"preload",
       {{"ok", stats.preload_ok}, {"errors", stats.preload_errors}, {"seconds", stats.preload_s}}},
      {"ops",
       {{"get", row_json({"get", &stats.ops[0].latency, stats.ops[0].errors}, stats.measured_s)},
        {"put", row_json({"put", &stats.ops[1].latency, stats.ops[1].errors}, stats.measured_s)},
        {"all", row_json({"all", &all, stats.errors.total()}, stats.measured_s)}}},
      {"errors",
       {{"http", http_errors},
        {"connect", stats.errors.connect},
        {"timeout", stats.errors.timeout},
        {"io", stats.errors.io}}},
  };
}

}  // namespace chorus::bench
