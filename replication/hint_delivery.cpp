#include "replication/hint_delivery.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "core/rpc_methods.h"
#include "replication/messages.h"

namespace chorus {

namespace asio = boost::asio;

HintDelivery::HintDelivery(asio::io_context& io, Membership* membership, Transport* transport,
                           HintStore* hints, ReplicaService* local, HlcClock* hlc,
                           const Clock* clock, HintDeliveryOptions options,
                           MetricsRegistry* metrics)
    : strand_(asio::make_strand(io)),
      timer_(strand_),
      membership_(membership),
      transport_(transport),
      hints_(hints),
      local_(local),
      hlc_(hlc),
      clock_(clock),
      options_(std::move(options)),
      rate_(options_.hints_per_second_max, options_.hints_per_second_max, clock->steady_ms()),
      delivered_(metrics->counter("chorus_hints_delivered_total", "Hints delivered to owners")),
      failed_(metrics->counter("chorus_hint_delivery_failures_total",
                               "Hint deliveries that failed and will be retried")),
      expired_(metrics->counter("chorus_hints_expired_total",
                                "Hints dropped for exceeding the age bound")) {}

void HintDelivery::start() {
  asio::post(strand_, [this] { schedule(); });
}

void HintDelivery::stop() {
  stopped_ = true;
  asio::post(strand_, [this] { timer_.cancel(); });
}

void HintDelivery::wake() {
  asio::post(strand_, [this] {
    if (!stopped_) deliver_next();
  });
}

void HintDelivery::schedule() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(options_.interval_ms));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void HintDelivery::tick() {
  deliver_next();
  schedule();
}

// Picks the first target that is alive and has hints, and sends one batch to it.
void HintDelivery::deliver_next() {
  const uint64_t now = clock_->steady_ms();
  if (batch_in_flight_ || stopped_ || rate_.available(now) < 1) return;
  auto view = membership_->view();
  if (!view->formed()) return;
  for (const std::string& target : hints_->targets()) {
    auto index = view->ring->index_of(target);
    if (!index || !view->alive(*index)) {
      expire(target);
      continue;
    }
    const size_t count = std::min<size_t>(options_.batch_max, rate_.available(now));
    std::vector<Hint> batch;
    Status st = hints_->peek(target, count, &batch);
    if (!st.ok()) {
      spdlog::error("reading hints for {}: {}", target, st.to_string());
      continue;
    }
    if (batch.empty()) continue;
    rate_.spend(batch.size(), now);
    deliver(target, *index, std::move(batch));
    return;
  }
}

// Hints for a target that stays away still age out: the oldest come first, so the scan stops at
// the first one still young enough.
void HintDelivery::expire(const std::string& target) {
  std::vector<Hint> oldest;
  Status st = hints_->peek(target, options_.batch_max, &oldest);
  if (!st.ok()) {
    spdlog::error("reading hints for {}: {}", target, st.to_string());
    return;
  }
  const uint64_t now_wall = clock_->wall_ms();
  std::vector<Hint> expired;
  for (Hint& hint : oldest) {
    if (now_wall <= hint.stored_wall_ms + hints_->options().age_max_ms) break;
    expired.push_back(std::move(hint));
  }
  if (expired.empty()) return;
  expired_->inc(expired.size());
  st = hints_->remove(target, expired);
  if (!st.ok()) spdlog::error("deleting expired hints for {}: {}", target, st.to_string());
}

void HintDelivery::deliver(const std::string& target, size_t member_index,
                           std::vector<Hint> hints) {
  batch_in_flight_ = true;
  struct Batch {
    std::vector<Hint> hints;
    std::vector<Hint> done;  // delivered or expired: safe to delete
    size_t pending = 0;
    size_t delivered = 0;
  };
  auto batch = std::make_shared<Batch>();
  batch->hints = std::move(hints);
  batch->pending = batch->hints.size();
  const uint64_t now_wall = clock_->wall_ms();
  const std::string peer = membership_->view()->ring->members()[member_index].peer_address;
  for (Hint& hint : batch->hints) {
    auto complete = [this, batch, target, &hint](bool ok, bool expired = false) {
      if (ok) batch->done.push_back(hint);
      if (ok && !expired) ++batch->delivered;
      if (--batch->pending == 0) finish_batch(target, std::move(batch->done), batch->delivered);
    };
    if (now_wall > hint.stored_wall_ms + hints_->options().age_max_ms) {
      expired_->inc();
      complete(true, true);
      continue;
    }
    ReplicaWrite message{hlc_->now(), hint.key, hint.partition, hint.record, false, {}};
    if (target == options_.self_id) {
      complete(local_->apply(message).ok(), false);
      continue;
    }
    transport_->call(peer, method_id(RpcMethod::kReplicaWrite), encode(message),
                     options_.rpc_timeout_ms, [this, complete](Result<std::string> reply) {
                       asio::post(strand_, [complete, ok = reply.ok()] { complete(ok, false); });
                     });
  }
}

void HintDelivery::finish_batch(const std::string& target, std::vector<Hint> done,
                                size_t delivered) {
  batch_in_flight_ = false;
  Status st = hints_->remove(target, done);
  if (!st.ok()) spdlog::error("deleting delivered hints for {}: {}", target, st.to_string());
  delivered_->inc(delivered);
  if (done.empty()) {
    failed_->inc();
    return;  // the owner is unreachable again; retry on a later tick
  }
  deliver_next();
}

}  // namespace chorus
