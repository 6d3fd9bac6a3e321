// Helpers for unit tests that run real Asio I/O (the transport, gossip): an io_context run by a
// few threads, and polling a condition with a deadline, the one way these tests wait.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

namespace chorus::test {

// Upper bound on any single wait; failing tests fail by this, never hang.
constexpr std::chrono::milliseconds kWaitMax{15'000};

class IoRunner {
 public:
  explicit IoRunner(int threads = 2) : work_(io_.get_executor()) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~IoRunner() { stop(); }
  IoRunner(const IoRunner&) = delete;
  IoRunner& operator=(const IoRunner&) = delete;

  boost::asio::io_context& io() { return io_; }
  void stop() {
    work_.reset();
    io_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// Polls `condition` until it holds or `wait` passes. The short pause between checks is a polling
// interval that lets the io threads have the cores; nothing relies on a sleep being long enough.
inline bool poll_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds wait = kWaitMax) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace chorus::test
