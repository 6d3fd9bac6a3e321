// The k6 scripts of tests/k6 against a real 3-node cluster (rocksdb, N=3, R=W=2), run by the
// k6-compatible runner in tests/k6/runner under Node.js: the smoke script, a short
// read-your-writes run and a short load run must all pass their thresholds (exit 0). The
// runner's end-of-test summary is printed to stdout so it lands in the ctest log.
//
// With a secure cluster (CHORUS_TEST_SECURE=1) the scripts reach the nodes over https:// with the
// cluster's admin token (CHORUS_TOKEN) and the runner trusts the cluster CA (--cacert), as an
// operator would run them against a protected deployment.
//
// NODE and CHORUS_SOURCE_DIR come from tests/cluster/CMakeLists.txt; without Node.js the tests
// warn and pass vacuously rather than fail a machine that cannot run them.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster/cluster_fixture.h"

using namespace chorus::testkit;

namespace {

// Deadlines for one runner process: the script's own duration plus setup (waiting for /v1/ready),
// VU start-up and the summary, with room for a loaded CI machine.
constexpr int kSmokeDeadlineMs = 120'000;
constexpr int kReadYourWritesDeadlineMs = 120'000;
constexpr int kLoadDeadlineMs = 180'000;
constexpr int kKillReapMs = 5'000;

struct Runner {
  std::string node;        // the Node.js binary
  std::string source_dir;  // the repository root
};

// The runner's inputs, or std::nullopt after a WARN saying why the test is skipped.
std::optional<Runner> runner_or_skip() {
  const char* node = std::getenv("NODE");
  const char* source = std::getenv("CHORUS_SOURCE_DIR");
  if (node == nullptr || *node == '\0' || source == nullptr || *source == '\0') {
    WARN("NODE or CHORUS_SOURCE_DIR is not set (no node at configure time?): k6 test skipped");
    return std::nullopt;
  }
  return Runner{node, source};
}

struct K6Run {
  int exit_code = -1;
  std::string output;      // the runner's stdout and stderr: header, logs, summary
  nlohmann::json summary;  // its --summary-export document (null if it wrote none)
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `node k6.mjs run -e CHORUS_URLS=<every node> [-e CHORUS_TOKEN=<admin token>] [env...]
// [--cacert <cluster CA>] tests/k6/<script>` and waits for it. Only -e values reach __ENV
// (--include-system-env-vars=false), so the test environment cannot change what runs.
K6Run run_k6(const Runner& runner, const LocalCluster& cluster, const std::string& script,
             const std::vector<std::string>& env, int deadline_ms) {
  std::string urls;
  for (int i = 1; i <= cluster.size(); ++i) urls += (i > 1 ? "," : "") + cluster.url(i);
  const std::string stem = script.substr(0, script.rfind('.'));
  const std::string log_path = cluster.data_root() + "/k6-" + stem + ".log";
  const std::string summary_path = cluster.data_root() + "/k6-" + stem + ".json";
  std::vector<std::string> args = {runner.source_dir + "/tests/k6/runner/k6.mjs",
                                   "run",
                                   "--include-system-env-vars=false",
                                   "--summary-export",
                                   summary_path,
                                   "-e",
                                   "CHORUS_URLS=" + urls};
  // A secure node answers nothing but /v1/health and /v1/ready without a token.
  if (!cluster.admin_token().empty()) {
    args.insert(args.end(), {"-e", "CHORUS_TOKEN=" + cluster.admin_token()});
  }
  for (const std::string& pair : env) {
    args.push_back("-e");
    args.push_back(pair);
  }
  if (!cluster.tls_ca().empty()) args.insert(args.end(), {"--cacert", cluster.tls_ca()});
  args.push_back(runner.source_dir + "/tests/k6/" + script);

  auto process = Process::start(runner.node, args, log_path);
  REQUIRE(process.ok());
  K6Run run;
  std::optional<int> status = process.value()->wait_exit(deadline_ms);
  if (!status) {
    (void)process.value()->kill(SIGKILL);
    (void)process.value()->wait_exit(kKillReapMs);
  }
  run.output = read_file(log_path);
  std::cout << "----- k6 " << script << " (" << urls << ")\n" << run.output << std::flush;
  if (!status) {
    cluster.dump_all_logs();
    FAIL("the k6 runner did not finish " << script << " within " << deadline_ms << " ms");
  }
  run.exit_code = *status;
  run.summary = nlohmann::json::parse(read_file(summary_path), nullptr, /*allow_exceptions=*/false);
  if (run.exit_code != 0) cluster.dump_all_logs();
  return run;
}

// A metric field of the summary export, or -1 when absent.
double summary_value(const K6Run& run, const std::string& metric, const std::string& field) {
  if (!run.summary.is_object() || !run.summary.contains("metrics")) return -1;
  const auto& metrics = run.summary["metrics"];
  if (!metrics.contains(metric) || !metrics[metric].contains(field)) return -1;
  return metrics[metric][field].get<double>();
}

void print_totals(const K6Run& run, const std::string& what) {
  std::cout << "k6 " << what << ": " << summary_value(run, "http_reqs", "count") << " requests, "
            << summary_value(run, "http_req_failed", "value") * 100 << "% failed, p(99) "
            << summary_value(run, "http_req_duration", "p(99)") << " ms, checks "
            << summary_value(run, "checks", "passes") << " passed / "
            << summary_value(run, "checks", "fails") << " failed\n";
}

}  // namespace

TEST_CASE("k6 smoke script passes against a 3-node cluster", "[cluster][k6]") {
  const std::optional<Runner> runner = runner_or_skip();
  if (!runner) return;
  LocalCluster cluster;
  start_or_fail(cluster);
  const K6Run run = run_k6(*runner, cluster, "smoke.js", {"READY_TIMEOUT_S=30"}, kSmokeDeadlineMs);
  print_totals(run, "smoke");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  // A runner that made no request would pass thresholds vacuously.
  REQUIRE(summary_value(run, "http_reqs", "count") >= 40);
  REQUIRE(summary_value(run, "checks", "fails") == 0);
  REQUIRE(summary_value(run, "checks", "passes") >= 40);
}

TEST_CASE("k6 read-your-writes script finds no stale quorum read across nodes", "[cluster][k6]") {
  const std::optional<Runner> runner = runner_or_skip();
  if (!runner) return;
  LocalCluster cluster;
  start_or_fail(cluster);
  const K6Run run = run_k6(*runner, cluster, "read-your-writes.js", {"VUS=4", "DURATION=10s"},
                           kReadYourWritesDeadlineMs);
  print_totals(run, "read-your-writes");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  REQUIRE(summary_value(run, "ryw_reads_checked", "count") > 100);
  REQUIRE(summary_value(run, "ryw_violations", "count") == 0);
}

TEST_CASE("k6 load script meets its thresholds while ramping to 10 VUs", "[cluster][k6]") {
  const std::optional<Runner> runner = runner_or_skip();
  if (!runner) return;
  LocalCluster cluster;
  start_or_fail(cluster);
  const K6Run run =
      run_k6(*runner, cluster, "load.js",
             {"VUS=10", "RAMP=5s", "HOLD=15s", "RAMP_DOWN=5s", "KEYS=2000", "P99_MS=500"},
             kLoadDeadlineMs);
  print_totals(run, "load");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  REQUIRE(summary_value(run, "http_reqs", "count") > 1000);
  REQUIRE(summary_value(run, "vus", "max") == 10);
}
