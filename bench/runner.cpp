// Runner: phases, progress lines and threads of one chorus-bench run (see runner.h).
#include "bench/runner.h"

#include <csignal>
#include <cstdio>
#include <thread>

#include <boost/asio/post.hpp>

namespace chorus::bench {

namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kPreload:
      return "preload";
    case Phase::kWarmup:
      return "warmup";
    case Phase::kMeasure:
      return "measure";
    case Phase::kDone:
      return "done";
  }
  return "?";
}

double seconds_between(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

Runner::Runner(const BenchConfig& config)
    : config_(config),
      strand_(net::make_strand(io_)),
      phase_timer_(strand_),
      tick_timer_(strand_),
      signals_(strand_, SIGINT, SIGTERM),
      key_chooser_(config.distribution, config.keys, config.zipf_theta) {
  shared_.config = &config_;
  shared_.key_chooser = &key_chooser_;
  shared_.put_body = put_body(config.value_bytes, config.seed);
  if (!config.token.empty()) shared_.authorization = "Bearer " + config.token;
}

Status Runner::make_tls_context() {
  if (config_.cacert.empty()) return Status::OK();
  auto context = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  boost::system::error_code ec;
  context->load_verify_file(config_.cacert, ec);
  if (ec) return Status::InvalidArgument("--cacert " + config_.cacert + ": " + ec.message());
  shared_.tls = std::move(context);
  return Status::OK();
}

Status Runner::resolve_targets(std::vector<tcp::endpoint>* endpoints) {
  tcp::resolver resolver(io_);
  for (const Target& target : config_.targets) {
    boost::system::error_code ec;
    const auto results = resolver.resolve(target.host, target.port, ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("cannot resolve " + target.host + ":" + target.port + ": " +
                                     (ec ? ec.message() : "no addresses"));
    }
    endpoints->push_back(results.begin()->endpoint());
  }
  return Status::OK();
}

Result<RunStats> Runner::run() {
  std::vector<tcp::endpoint> endpoints;
  if (Status st = resolve_targets(&endpoints); !st.ok()) return st;
  if (Status st = make_tls_context(); !st.ok()) return st;
  for (int i = 0; i < config_.connections; ++i) {
    const size_t t = static_cast<size_t>(i) % endpoints.size();
    const std::string host = config_.targets[t].host + ":" + config_.targets[t].port;
    connections_.push_back(
        std::make_shared<Connection>(io_, endpoints[t], host, &shared_, config_.seed, i));
  }
  shared_.on_preload_done = [this] { net::post(strand_, [this] { begin_load(); }); };
  run_start_ = Clock::now();
  // Before any connection runs, so none of them mistakes the load for a preload.
  if (!config_.preload) begin_load();
  signals_.async_wait([this](const boost::system::error_code& ec, int /*signal*/) {
    if (!ec) finish("interrupted");
  });
  schedule_tick();
  for (const auto& connection : connections_) connection->start();

  std::vector<std::thread> workers;
  for (int i = 1; i < config_.threads; ++i) workers.emplace_back([this] { io_.run(); });
  io_.run();
  for (std::thread& worker : workers) worker.join();
  return collect();
}

void Runner::begin_load() {
  if (load_started_ || finished_) return;
  load_started_ = true;
  load_start_ = Clock::now();
  if (config_.warmup_s > 0) {
    shared_.phase.store(Phase::kWarmup, std::memory_order_release);
    phase_timer_.expires_after(std::chrono::seconds(config_.warmup_s));
    phase_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) begin_measure();
    });
  } else {
    begin_measure();
  }
  for (const auto& connection : connections_) connection->resume();
}

void Runner::begin_measure() {
  if (finished_) return;
  measuring_ = true;
  measure_start_ = Clock::now();
  shared_.phase.store(Phase::kMeasure, std::memory_order_release);
  phase_timer_.expires_after(std::chrono::seconds(config_.duration_s));
  phase_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) finish(nullptr);
  });
}

// Ends the run: no new requests, sockets closed, timers cancelled, so io_.run() returns.
void Runner::finish(const char* why) {
  if (finished_) return;
  finished_ = true;
  measure_end_ = Clock::now();
  if (!load_started_) load_start_ = measure_end_;
  shared_.phase.store(Phase::kDone, std::memory_order_release);
  if (why != nullptr) std::fprintf(stderr, "%s; reporting what was measured so far\n", why);
  phase_timer_.cancel();
  tick_timer_.cancel();
  signals_.cancel();
  for (const auto& connection : connections_) connection->stop();
}

void Runner::schedule_tick() {
  // Anchored to the start so the lines do not drift by the time each one takes.
  tick_timer_.expires_at(run_start_ + std::chrono::seconds(ticks_ + 1));
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !finished_) tick();
  });
}

void Runner::tick() {
  ++ticks_;
  const Phase phase = shared_.phase.load(std::memory_order_acquire);
  const uint64_t successes = shared_.successes.load(std::memory_order_relaxed);
  const uint64_t errors = shared_.errors.load(std::memory_order_relaxed);
  std::fprintf(stderr, "[%4ds] %-7s %9llu ops/s %7llu errors", ticks_, phase_name(phase),
               static_cast<unsigned long long>(successes - last_successes_),
               static_cast<unsigned long long>(errors - last_errors_));
  last_successes_ = successes;
  last_errors_ = errors;
  if (phase == Phase::kPreload) {
    const uint64_t finished = shared_.preload_finished.load(std::memory_order_relaxed);
    std::fprintf(stderr, "  (%llu/%llu keys)\n", static_cast<unsigned long long>(finished),
                 static_cast<unsigned long long>(config_.keys));
    watch_preload(finished);
  } else {
    std::fputc('\n', stderr);
  }
  schedule_tick();
}

void Runner::watch_preload(uint64_t finished) {
  if (finished != last_preload_finished_) {
    last_preload_finished_ = finished;
    preload_stalled_s_ = 0;
    return;
  }
  if (++preload_stalled_s_ < kPreloadStallSeconds) return;
  std::fprintf(stderr, "preload made no progress for %d s; starting the load without it\n",
               kPreloadStallSeconds);
  begin_load();
}

RunStats Runner::collect() const {
  RunStats stats;
  for (const auto& connection : connections_) stats.merge_counts(connection->stats());
  stats.measured_s = measuring_ ? seconds_between(measure_start_, measure_end_) : 0.0;
  stats.preload_s = config_.preload ? seconds_between(run_start_, load_start_) : 0.0;
  return stats;
}

}  // namespace chorus::bench
