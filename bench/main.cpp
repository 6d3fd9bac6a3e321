// chorus-bench: a closed-loop HTTP load generator for Chorus (and anything speaking its KV API).
// Parses flags into a BenchConfig, runs it (runner.h), prints the report table to stdout and
// optionally writes it as JSON. Exit codes: 0 done; 1 every measured request failed, or the JSON
// file could not be written; 2 bad flags or unresolvable targets.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "bench/config.h"
#include "bench/report.h"
#include "bench/runner.h"

namespace {

using chorus::bench::BenchConfig;
using chorus::bench::Distribution;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
// Two I/O threads keep up with ~100k req/s of small requests; more just compete with the
// cluster under test when both run on one box.
constexpr unsigned kThreadsDefaultMax = 2;

struct Flags {
  std::string targets;
  std::string distribution = "uniform";
  int preload = 0;  // +1 --preload, -1 --no-preload, 0: on when read-ratio > 0
};

void add_flags(CLI::App& app, BenchConfig* config, Flags* flags) {
  app.add_option("--targets", flags->targets, "host:port,host:port,... (round-robin)")->required();
  app.add_option("--connections", config->connections, "concurrent connections")
      ->capture_default_str();
  app.add_option("--threads", config->threads, "I/O threads")->capture_default_str();
  app.add_option("--duration-s", config->duration_s, "measured seconds")->capture_default_str();
  app.add_option("--warmup-s", config->warmup_s, "unmeasured seconds first")->capture_default_str();
  app.add_option("--keys", config->keys, "key space: bench-0..bench-<keys-1>")
      ->capture_default_str();
  app.add_option("--value-bytes", config->value_bytes, "bytes per PUT value")
      ->capture_default_str();
  app.add_option("--read-ratio", config->read_ratio, "fraction of GETs, 0..1")
      ->capture_default_str();
  app.add_option("--distribution", flags->distribution, "key popularity")
      ->check(CLI::IsMember({"uniform", "zipfian"}))
      ->capture_default_str();
  app.add_option("--zipf-theta", config->zipf_theta, "zipfian skew, 0..1")->capture_default_str();
  app.add_option("--w", config->write_quorum, "PUT ?w=: N|one|quorum|all (default: node's)");
  app.add_option("--r", config->read_quorum, "GET ?r=: N|one|quorum|all (default: node's)");
  app.add_option("--seed", config->seed, "RNG seed")->capture_default_str();
  app.add_option("--json", config->json_path, "also write the report as JSON to FILE");
  app.add_flag("--preload,!--no-preload", flags->preload,
               "PUT every key once before measuring (default: on when read-ratio > 0)");
  app.add_option("--timeout-ms", config->timeout_ms, "per-request deadline")->capture_default_str();
  app.add_option("--token", config->token, "bearer token (nodes with --acl-file)")
      ->envname("CHORUS_TOKEN");
  app.add_option("--cacert", config->cacert, "HTTPS: PEM CA file that verifies the targets")
      ->envname("CHORUS_CACERT");
}

// Writes `text` to `path`; false (with a message on stderr) when it cannot.
bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "chorus-bench: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

int run(BenchConfig config) {
  chorus::bench::Runner runner(config);
  chorus::Result<chorus::bench::RunStats> stats = runner.run();
  if (!stats.ok()) {
    std::fprintf(stderr, "chorus-bench: %s\n", stats.status().message().c_str());
    return kExitUsage;
  }
  std::fputs(chorus::bench::format_report(stats.value(), config).c_str(), stdout);
  std::fflush(stdout);
  bool ok = true;
  if (!config.json_path.empty()) {
    ok = write_file(config.json_path,
                    chorus::bench::report_json(stats.value(), config).dump(2) + "\n");
  }
  if (stats.value().successes() == 0) {
    std::fprintf(stderr, "chorus-bench: every measured request failed\n");
    return kExitFailed;
  }
  return ok ? kExitOk : kExitFailed;
}

int parse_and_run(int argc, char** argv) {
  BenchConfig config;
  config.threads =
      static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, kThreadsDefaultMax));
  Flags flags;
  CLI::App app{"chorus-bench: closed-loop HTTP load generator for the Chorus KV API"};
  // A flag given twice keeps the last value, so wrappers (./dev.sh bench) can pass defaults that
  // the user's own arguments override.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_flags(app, &config, &flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  chorus::Result<std::vector<chorus::bench::Target>> targets =
      chorus::bench::parse_targets(flags.targets);
  if (!targets.ok()) {
    std::fprintf(stderr, "chorus-bench: --targets: %s\n", targets.status().message().c_str());
    return kExitUsage;
  }
  config.targets = std::move(targets.value());
  config.distribution =
      flags.distribution == "zipfian" ? Distribution::kZipfian : Distribution::kUniform;
  config.preload = flags.preload > 0 || (flags.preload == 0 && config.read_ratio > 0.0);
  if (chorus::Status st = chorus::bench::validate(config); !st.ok()) {
    std::fprintf(stderr, "chorus-bench: %s\n", st.message().c_str());
    return kExitUsage;
  }
  return run(std::move(config));
}

}  // namespace

int main(int argc, char** argv) {
  // A node that closes the connection mid-request is an error to report, not a reason to die:
  // OpenSSL writes with write(2), which raises SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return parse_and_run(argc, argv);
  } catch (const std::exception& e) {  // the edge: nothing may escape as a crash without a word
    std::fprintf(stderr, "chorus-bench: %s\n", e.what());
    return kExitFailed;
  }
}
