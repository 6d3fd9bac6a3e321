#include "membership/swim/suspicion.h"

#include <algorithm>
#include <cmath>

namespace chorus::swim {

uint64_t suspicion_timeout_ms(size_t members, uint64_t probe_interval_ms, double mult,
                              uint64_t min_timeout_ms) {
  const double scaled = mult * std::log10(static_cast<double>(members) + 1.0) *
                        static_cast<double>(probe_interval_ms);
  return std::max(min_timeout_ms, static_cast<uint64_t>(std::llround(scaled)));
}

void SuspicionTimers::start(const std::string& id, uint64_t deadline_ms) {
  deadline_ms_.emplace(id, deadline_ms);  // no-op when already running
}

std::vector<std::string> SuspicionTimers::take_expired(uint64_t now_ms) {
  std::vector<std::string> expired;
  for (auto it = deadline_ms_.begin(); it != deadline_ms_.end();) {
    if (it->second <= now_ms) {
      expired.push_back(it->first);
      it = deadline_ms_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

}  // namespace chorus::swim
