#include "net/connection_log.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>

namespace chorus {

namespace {
std::atomic<uint64_t> window_start_s{0};
std::atomic<uint32_t> warns_in_window{0};

bool warn_allowed() {
  const uint64_t now_s =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count());
  uint64_t start = window_start_s.load(std::memory_order_relaxed);
  if (now_s != start &&
      window_start_s.compare_exchange_strong(start, now_s, std::memory_order_relaxed)) {
    warns_in_window.store(0, std::memory_order_relaxed);
  }
  return warns_in_window.fetch_add(1, std::memory_order_relaxed) < kConnectionWarnsPerSecondMax;
}
}  // namespace

void log_connection_error(const std::string& message) {
  if (warn_allowed()) {
    spdlog::warn("net: {}", message);
  } else {
    spdlog::debug("net: {}", message);
  }
}

}  // namespace chorus
