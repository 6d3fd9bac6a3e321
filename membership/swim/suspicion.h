// Suspicion: how long a suspected member has to refute before it is declared dead, and the timers
// that track it (SWIM §4.2; the formula is memberlist's).
//
//   suspicion_timeout_ms = max(min_timeout_ms, mult * log10(n + 1) * probe_interval_ms)
//
// where n is the number of members not known dead (self included). The timeout grows with the
// logarithm of the cluster because a refutation needs O(log n) gossip rounds to reach the
// suspector; the floor gives the suspected member a few probe intervals to hear of it even in a
// tiny cluster. A member suspected again (a higher incarnation, or another node's suspicion) keeps
// its first deadline: the detection bound stays fixed, and memberlist's Lifeguard acceleration by
// independent confirmations is not implemented (it would only shorten the wait).
//
// Thread-safety: none; owned by one Swim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chorus::swim {

uint64_t suspicion_timeout_ms(size_t members, uint64_t probe_interval_ms, double mult,
                              uint64_t min_timeout_ms);

class SuspicionTimers {
 public:
  // Starts the timer for `id`, or keeps the running one (and its earlier deadline).
  void start(const std::string& id, uint64_t deadline_ms);
  void cancel(const std::string& id) { deadline_ms_.erase(id); }
  // Removes and returns the ids whose deadline is at or before now_ms, in id order.
  std::vector<std::string> take_expired(uint64_t now_ms);

  bool running(const std::string& id) const { return deadline_ms_.count(id) != 0; }
  size_t size() const { return deadline_ms_.size(); }

 private:
  std::map<std::string, uint64_t> deadline_ms_;
};

}  // namespace chorus::swim
