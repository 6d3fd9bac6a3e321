// Coordinator: runs quorum reads and writes for any key on any node (DESIGN.md §5). It is the
// driver of the pure request machines (write_request.h, read_request.h, where every rule lives):
// it admits a request, runs its machine on a strand with a deadline timer, carries the effects
// out (replica RPCs through an RpcClient, the local replica applied directly, hints stored) and
// feeds the replies back.
//
// Write: stamp an HLC timestamp and the ring epoch, send to the key's N owners in parallel (the
// local replica is applied directly), answer after W acks. A down owner is replaced by the next
// live node on the ring walk, which keeps a hint; an owner whose RPC fails gets a hint kept here.
// Hints never count toward W. If a replica answers that it holds a newer version, the write is
// re-stamped past it and sent again (bounded rounds), so a write that starts after another was
// acknowledged always wins (DESIGN.md §1).
//
// Read: ask every owner, answer with the newest version once R replied. If those R disagree, the
// newest is written back to the stale ones before answering (blocking read repair); replicas that
// answer later with an older version are repaired off the response path.
//
// Each request runs on its own strand, so its state needs no lock; callbacks are invoked exactly
// once, on an io_context thread. Thread-safe. Requests in flight are bounded (Busy beyond).
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "core/clock.h"
#include "core/hlc.h"
#include "core/metrics.h"
#include "core/record.h"
#include "membership/membership.h"
#include "net/rpc_client.h"
#include "replication/hints.h"
#include "replication/read_request.h"
#include "replication/replica.h"
#include "replication/write_request.h"

namespace chorus {

struct CoordinatorOptions {
  std::string self_id;
  int read_quorum_default = 2;
  int write_quorum_default = 2;
  uint64_t request_timeout_ms = 2000;
  // Each re-stamp round costs one more fan-out. A replica ahead through clock skew needs one; a
  // hot key with several writers racing through different coordinators can need a few more (the
  // zipfian benchmark exhausted 3 once in ~90k writes). Past the bound the write answers 503.
  int restamp_rounds_max = 8;
  size_t requests_in_flight_max = 16384;
  // Test-only (WriteMachineOptions::restamp_disabled_for_test).
  bool restamp_disabled_for_test = false;
};

class Coordinator {
 public:
  Coordinator(boost::asio::io_context& io, Membership* membership, RpcClient* rpc,
              ReplicaService* local, HintStore* hints, HlcClock* hlc, const Clock* clock,
              CoordinatorOptions options, MetricsRegistry* metrics);

  void write(WriteRequest request, std::function<void(WriteResponse)> done);
  void read(ReadRequest request, std::function<void(ReadResponse)> done);

  const CoordinatorOptions& options() const { return options_; }
  // Requests admitted and not yet answered.
  size_t in_flight() const { return in_flight_.load(); }

  // Shared with the per-request drivers in coordinator.cpp.
  struct Metrics {
    Counter* writes_ok;
    Counter* writes_failed;
    Counter* reads_ok;
    Counter* reads_failed;
    Counter* rpc_errors_write;
    Counter* rpc_errors_read;
    Counter* restamps;
    Counter* restamps_exhausted;
    Counter* repairs_blocking;
    Counter* repairs_background;
    Counter* late_replies;
    Counter* hints_local;
    Counter* stale_ring_retries;
    Gauge* in_flight;
  };

  struct Context {
    boost::asio::io_context& io;
    Membership* membership;
    RpcClient* rpc;
    ReplicaService* local;
    HintStore* hints;
    HlcClock* hlc;
    const Clock* clock;
    const CoordinatorOptions& options;
    Metrics& metrics;
    std::atomic<size_t>& in_flight;
  };

 private:
  Result<int> admit(int requested, int default_count, const ClusterView& view);

  boost::asio::io_context& io_;
  Membership* membership_;
  RpcClient* rpc_;
  ReplicaService* local_;
  HintStore* hints_;
  HlcClock* hlc_;
  const Clock* clock_;
  CoordinatorOptions options_;
  Metrics metrics_;
  std::atomic<size_t> in_flight_{0};
  Context context_;
};

}  // namespace chorus
