// Helpers for the net tests: an io_context run by real threads, waiting for a callback with a
// deadline, polling a condition with a deadline, and reading transport metrics.
//
// Declare objects in this order so every callback outlives what it touches: MetricsRegistry, then
// IoRunner, then Transports. Callbacks capture test state through shared_ptr only.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/status.h"
#include "net/transport.h"
#include "tests/unit/io_test_util.h"

namespace chorus::test {

// kWaitMax, IoRunner and poll_until come from tests/unit/io_test_util.h.

// A std::thread that joins when it goes out of scope (a failed REQUIRE must not terminate()).
class JoiningThread {
 public:
  explicit JoiningThread(std::function<void()> body) : thread_(std::move(body)) {}
  ~JoiningThread() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

// A pending call's outcome, collected from its callback.
class PendingReply {
 public:
  PendingReply() : promise_(std::make_shared<std::promise<Result<std::string>>>()) {
    future_ = promise_->get_future();
  }
  RpcCallback callback() {
    auto promise = promise_;
    return [promise](Result<std::string> reply) { promise->set_value(std::move(reply)); };
  }
  bool ready_within(std::chrono::milliseconds wait) {
    return future_.wait_for(wait) == std::future_status::ready;
  }
  // The reply, or a test-side Timeout status when the callback did not run within kWaitMax.
  Result<std::string> get() {
    if (!ready_within(kWaitMax)) return Status::Timeout("test: callback did not run");
    return future_.get();
  }

 private:
  std::shared_ptr<std::promise<Result<std::string>>> promise_;
  std::future<Result<std::string>> future_;
};

inline Result<std::string> call_and_wait(Transport& transport, const std::string& peer,
                                         uint16_t method, std::string payload,
                                         uint64_t timeout_ms = 5000) {
  PendingReply reply;
  transport.call(peer, method, std::move(payload), timeout_ms, reply.callback());
  return reply.get();
}

inline uint64_t calls_total(MetricsRegistry& metrics, const std::string& result) {
  return metrics.counter("chorus_rpc_calls_total", "", "result=\"" + result + "\"")->value();
}

inline int64_t connections(MetricsRegistry& metrics) {
  return metrics.gauge("chorus_rpc_connections", "")->value();
}

inline uint64_t call_seconds_count(MetricsRegistry& metrics) {
  return metrics.histogram("chorus_rpc_call_seconds", "")->count();
}

// An echo server: answers every request with "<method>:<payload>".
inline RpcHandler echo_handler() {
  return [](const std::string&, uint16_t method, std::string payload, Responder respond) {
    respond(Status::OK(), std::to_string(method) + ":" + payload);
  };
}

}  // namespace chorus::test
