// HintDelivery: sends stored hints to their owners once membership sees them alive, at a bounded
// rate so a returning node is not flooded (DESIGN.md §5). Delivered hints are deleted; hints older
// than the age bound are dropped (anti-entropy repairs what they carried).
//
// One batch is in flight at a time; a token bucket refilled each tick caps hints per second. All
// state lives on one strand. Lifetime: stop(), then let the io_context drain before destroying.
#pragma once

#include <atomic>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/clock.h"
#include "core/hlc.h"
#include "core/metrics.h"
#include "core/rate_limiter.h"
#include "membership/membership.h"
#include "net/transport.h"
#include "replication/hints.h"
#include "replication/replica.h"

namespace chorus {

struct HintDeliveryOptions {
  std::string self_id;
  uint64_t interval_ms = 200;
  size_t batch_max = 128;
  // 2000 hints/s replays a few minutes of a node's missed writes in seconds, yet stays a small
  // fraction of what a node serves.
  size_t hints_per_second_max = 2000;
  uint64_t rpc_timeout_ms = 2000;
};

class HintDelivery {
 public:
  HintDelivery(boost::asio::io_context& io, Membership* membership, Transport* transport,
               HintStore* hints, ReplicaService* local, HlcClock* hlc, const Clock* clock,
               HintDeliveryOptions options, MetricsRegistry* metrics);

  void start();
  void stop();
  // Deliver soon (a member just came back).
  void wake();

 private:
  void schedule();
  void tick();
  void deliver_next();
  void expire(const std::string& target);
  void deliver(const std::string& target, size_t member_index, std::vector<Hint> hints);
  void finish_batch(const std::string& target, std::vector<Hint> done, size_t delivered);

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;
  Membership* membership_;
  Transport* transport_;
  HintStore* hints_;
  ReplicaService* local_;
  HlcClock* hlc_;
  const Clock* clock_;
  HintDeliveryOptions options_;
  RateLimiter rate_;  // hints per second, bursts of a second's worth
  bool batch_in_flight_ = false;
  std::atomic<bool> stopped_{false};
  Counter* delivered_;
  Counter* failed_;
  Counter* expired_;
};

}  // namespace chorus
