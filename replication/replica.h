// ReplicaService: the replica side of replication. Applies versions sent by coordinators (only if
// newer: last-writer-wins, idempotent and order-free), serves replica reads, and keeps hints when
// it is a stand-in for a down owner.
//
// apply()/read() are called directly by the local coordinator and through handle_*() by the
// transport for remote coordinators; both paths fold the sender's HLC into ours and answer with
// our HLC. Thread-safe: the Store serialises per key; nothing else is mutable here.
#pragma once

#include <functional>
#include <string>

#include "core/clock.h"
#include "core/hlc.h"
#include "core/metrics.h"
#include "engines/store.h"
#include "net/transport.h"
#include "replication/hints.h"
#include "replication/messages.h"

namespace chorus {

class ReplicaService {
 public:
  ReplicaService(Store* store, HintStore* hints, HlcClock* hlc, MetricsRegistry* metrics);

  // Applies (or, with hint_for set, stores a hint for) the write. Errors: InvalidArgument for a key
  // whose partition does not match, Busy when a hint bound is reached, Corruption/IOError from the
  // store.
  Result<ReplicaWriteReply> apply(const ReplicaWrite& request);
  Result<ReplicaReadReply> read(const ReplicaRead& request);

  // Transport glue: decode, call the above, encode the reply.
  void handle_write(std::string payload, const Responder& respond);
  void handle_read(std::string payload, const Responder& respond);

  // The epoch at which the ring last changed, as this node knows it (0: no fence). Client writes
  // from a coordinator whose view predates it are refused with Unavailable ("stale ring").
  void set_ring_epoch_source(std::function<uint64_t()> source) { ring_epoch_ = std::move(source); }

  uint32_t partitions() const { return partitions_; }
  void set_partitions(uint32_t partitions) { partitions_ = partitions; }

 private:
  void observe(Timestamp sender_hlc);

  Store* store_;
  HintStore* hints_;
  HlcClock* hlc_;
  std::atomic<uint32_t> partitions_{0};
  Counter* applied_;
  Counter* superseded_;
  Counter* clock_refusals_;
  std::function<uint64_t()> ring_epoch_;  // unset: no stale-ring fence
  Counter* stale_ring_refusals_;
};

}  // namespace chorus
