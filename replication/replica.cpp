#include "replication/replica.h"

#include <spdlog/spdlog.h>

#include "ring/partitioner.h"

namespace chorus {

ReplicaService::ReplicaService(Store* store, HintStore* hints, HlcClock* hlc,
                               MetricsRegistry* metrics)
    : store_(store),
      hints_(hints),
      hlc_(hlc),
      applied_(metrics->counter("chorus_replica_writes_total", "Replica writes by outcome",
                                "outcome=\"applied\"")),
      superseded_(metrics->counter("chorus_replica_writes_total", "Replica writes by outcome",
                                   "outcome=\"superseded\"")),
      clock_refusals_(metrics->counter("chorus_hlc_refused_total",
                                       "Peer timestamps refused for being too far ahead")),
      stale_ring_refusals_(metrics->counter(
          "chorus_replica_stale_ring_refusals_total",
          "Client writes refused because the coordinator's ring predates a ring change")) {}

void ReplicaService::observe(Timestamp sender_hlc) {
  Status st = hlc_->observe(sender_hlc);
  if (!st.ok()) {
    clock_refusals_->inc();
    spdlog::warn("{}", st.to_string());
  }
}

Result<ReplicaWriteReply> ReplicaService::apply(const ReplicaWrite& request) {
  observe(request.sender_hlc);
  // A version stamped beyond our clock's drift bound is refused, not stored: stored, it would win
  // every later write to the key until our wall clock caught up.
  if (Status st = hlc_->observe(request.record.ts); !st.ok()) {
    clock_refusals_->inc();
    return Status::InvalidArgument("record timestamp refused: " + st.message());
  }
  const uint32_t partitions = partitions_.load();
  if (partitions != 0 && partition_of(request.key, partitions) != request.partition) {
    return Status::InvalidArgument("partition does not match key");
  }
  if (request.view_epoch != 0 && request.hint_for.empty() && ring_epoch_) {
    const uint64_t ring_epoch = ring_epoch_();
    if (request.view_epoch < ring_epoch) {
      stale_ring_refusals_->inc();
      return Status::Unavailable(std::string(kStaleRingPrefix) +
                                 ": the coordinator's view is at epoch " +
                                 std::to_string(request.view_epoch) + ", the ring changed at " +
                                 std::to_string(ring_epoch) + "; retry");
    }
  }
  ReplicaWriteReply reply;
  if (!request.hint_for.empty()) {
    CHORUS_RETURN_IF_ERROR(hints_->add(request.hint_for, request.key, request.partition,
                                       request.record, request.sync));
    reply.applied = true;
  } else {
    auto result = store_->apply(request.key, request.partition, request.record, request.sync);
    if (!result.ok()) return result.status();
    const Record& current = result->current;
    // Holding exactly this version already counts as applied: delivery is idempotent.
    reply.applied = result->applied ||
                    (current.ts == request.record.ts && current.origin == request.record.origin);
    (reply.applied ? applied_ : superseded_)->inc();
    reply.current_ts = current.ts;
    reply.current_origin = current.origin;
  }
  reply.sender_hlc = hlc_->now();
  return reply;
}

Result<ReplicaReadReply> ReplicaService::read(const ReplicaRead& request) {
  observe(request.sender_hlc);
  ReplicaReadReply reply;
  Status st = store_->get(request.key, &reply.record);
  if (st.ok()) {
    reply.found = true;
  } else if (!st.is_not_found()) {
    return st;
  }
  reply.sender_hlc = hlc_->now();
  return reply;
}

void ReplicaService::handle_write(std::string payload, const Responder& respond) {
  ReplicaWrite request;
  Status st = decode(payload, &request);
  if (!st.ok()) return respond(st, {});
  auto reply = apply(request);
  if (!reply.ok()) return respond(reply.status(), {});
  respond(Status::OK(), encode(*reply));
}

void ReplicaService::handle_read(std::string payload, const Responder& respond) {
  ReplicaRead request;
  Status st = decode(payload, &request);
  if (!st.ok()) return respond(st, {});
  auto reply = read(request);
  if (!reply.ok()) {
    if (reply.status().is_corruption())
      spdlog::error("replica read: {}", reply.status().to_string());
    return respond(reply.status(), {});
  }
  respond(Status::OK(), encode(*reply));
}

}  // namespace chorus
