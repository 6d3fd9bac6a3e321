// Runner: one chorus-bench run from start to report. It resolves the targets, opens
// --connections Connections spread round-robin over them on one io_context run by --threads
// threads, and walks the phases: preload (PUT every key once, optional) -> warmup -> measure ->
// done. It prints a progress line to stderr every second and stops early on SIGINT/SIGTERM,
// reporting what was measured so far.
//
// Preload ends when every key was written or failed; if no preload request completes for
// kPreloadStallSeconds (targets down or hung) the runner gives up on it and starts the load, so a
// run is always bounded by its warmup and duration plus that stall limit.
//
// Thread-safety: run() is called once, from one thread; internally the phase changes and progress
// lines run on the runner's strand.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "bench/config.h"
#include "bench/connection.h"
#include "bench/report.h"
#include "bench/workload.h"
#include "core/status.h"

namespace chorus::bench {

constexpr int kPreloadStallSeconds = 10;

class Runner {
 public:
  // `config` must be valid (validate()) and outlive the runner.
  explicit Runner(const BenchConfig& config);

  // Runs the benchmark and returns the merged statistics. Fails (InvalidArgument) only when a
  // target cannot be resolved; connection and request failures are counted, not returned.
  [[nodiscard]] Result<RunStats> run();

 private:
  using Clock = std::chrono::steady_clock;

  [[nodiscard]] Status resolve_targets(std::vector<boost::asio::ip::tcp::endpoint>* endpoints);
  [[nodiscard]] Status make_tls_context();  // from --cacert, into shared_.tls
  void begin_load();
  void begin_measure();
  void finish(const char* why);
  void schedule_tick();
  void tick();
  void watch_preload(uint64_t finished);
  RunStats collect() const;

  const BenchConfig& config_;
  boost::asio::io_context io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer phase_timer_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::signal_set signals_;
  KeyChooser key_chooser_;
  RunShared shared_;
  std::vector<std::shared_ptr<Connection>> connections_;

  // Touched only on strand_ while running, read by run() after the threads joined.
  Clock::time_point run_start_;
  Clock::time_point load_start_;  // end of preload
  Clock::time_point measure_start_;
  Clock::time_point measure_end_;
  bool load_started_ = false;
  bool measuring_ = false;
  bool finished_ = false;
  int ticks_ = 0;
  uint64_t last_successes_ = 0;
  uint64_t last_errors_ = 0;
  uint64_t last_preload_finished_ = 0;
  int preload_stalled_s_ = 0;
};

}  // namespace chorus::bench
