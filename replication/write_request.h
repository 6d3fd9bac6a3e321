// WriteRequestMachine: the whole decision of one coordinated client write (DESIGN.md §5), as a
// pure state machine in the shape of etcd raft: inputs are start(), the replies the driver feeds
// back, and the deadline; outputs are effects the driver takes and carries out. No I/O, no timer,
// no thread inside; the node's HLC is the one shared object it stamps from (under simulation, an
// HLC over a simulated clock).
//
// Rules:
//   - Stamp the record (HLC timestamp, origin, ring epoch) and send it to the partition's write
//     owners (in a transition: current plus pending owners, and W raised by the pending count so
//     W acks fall on either set). Every owner gets the write even after W acks: answering only
//     stops the waiting, never the fan-out.
//   - An owner gossip calls dead is replaced by the next live node on the ring walk (a stand-in,
//     which keeps the record as a hint for that owner); with none, or when the stand-in fails,
//     the hint is kept here. Hints never count toward W.
//   - An owner whose RPC fails gets a hint kept here for this round's version (a superseded round
//     needs none).
//   - A replica that holds a newer version makes the write re-stamp past it and send a new round
//     (at most restamp_rounds_max), so a write that starts after another was acknowledged always
//     wins. A newer version beyond the HLC's drift bound cannot be passed: that replica fails.
//   - A replica that refuses the write for a stale ring: when the quorum fails, the machine asks
//     for a newer ring (retry_with_newer_ring). The driver then starts a fresh machine on the newer
//     view (once), or calls no_newer_ring() to get the failure answer.
//   - Deadline: Timeout. Replies after the answer still produce hints where needed.
// The response is produced exactly once. Sends are identified by a tag the driver hands back.
//
// Thread-safety: none; one driver calls it from one strand.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/hlc.h"
#include "core/record.h"
#include "core/status.h"
#include "membership/membership.h"
#include "replication/messages.h"
#include "replication/quorum.h"

namespace chorus {

struct WriteRequest {
  std::string key;
  std::string value;
  bool tombstone = false;
  uint64_t ttl_s = 0;
  bool sync = false;
  int w = 0;  // 0 = default
};

struct WriteResponse {
  // OK; InvalidArgument (w out of range); Unavailable (W unreachable, `acks` says how many
  // acknowledged); Timeout; Busy (too many requests in flight).
  Status status;
  int acks = 0;
  int required = 0;
  Timestamp ts;
  std::string node;
};

struct WriteMachineOptions {
  std::string self_id;
  int restamp_rounds_max = 8;
  // Whether a write refused for a stale ring may ask to start over with a newer view.
  bool retry_allowed = true;
  // Test-only: never re-stamp; a replica holding a newer version counts as an ack, as Cassandra
  // counts it (the write is acknowledged and then loses to the newer version). Lets the
  // simulator show it finds the later-write-lost that re-stamping prevents.
  bool restamp_disabled_for_test = false;
};

// One replica write to send: to member `member` of the machine's view (the driver applies it
// locally when that is this node).
struct WriteSend {
  uint64_t tag = 0;
  size_t member = 0;
  ReplicaWrite message;
};

// A hint to keep on this node for `owner_id`.
struct HintToKeep {
  std::string owner_id;
  std::string key;
  uint32_t partition = 0;
  Record record;
  bool sync = false;
};

// What happened, for the driver's metrics.
struct WriteEvents {
  uint64_t rpc_errors = 0;
  uint64_t restamps = 0;
  uint64_t restamps_exhausted = 0;
  uint64_t late_replies = 0;
  uint64_t future_versions = 0;  // newer versions beyond the HLC drift bound (check clocks)
};

struct WriteEffects {
  std::vector<WriteSend> sends;
  std::vector<HintToKeep> hints;
  std::optional<WriteResponse> response;
  bool retry_with_newer_ring = false;  // see the header comment
  WriteEvents events;
};

class WriteRequestMachine {
 public:
  // `required`: W as admitted (1..N). `view` must be formed.
  WriteRequestMachine(WriteMachineOptions options, std::shared_ptr<const ClusterView> view,
                      WriteRequest request, int required, HlcClock* hlc);

  // Stamps and sends the first round. `now_wall_ms` anchors the TTL.
  void start(uint64_t now_wall_ms);
  void on_reply(uint64_t tag, Result<ReplicaWriteReply> reply);
  void on_deadline();
  // After retry_with_newer_ring, when the driver has no newer view: the failure answer.
  void no_newer_ring();

  WriteEffects take_effects();

  bool answered() const { return answered_; }
  // The request as given (the driver restarts it on a newer ring with it), and W as admitted.
  const WriteRequest& request() const { return request_; }
  int base_required() const { return base_required_; }
  const ClusterView& view() const { return *view_; }

 private:
  struct Sent {
    int round = 0;
    size_t target = 0;  // index into owners_ (kStandIn: the owner it stands in for)
    bool stand_in = false;
    std::string owner_id;  // the owner a stand-in keeps the hint for
  };

  const Member& member(size_t index) const { return view_->ring->members()[index]; }
  bool is_self(size_t index) const { return member(index).id == options_.self_id; }
  ReplicaWrite message(const std::string& hint_for) const;
  void send_round();
  void send(size_t member_index, ReplicaWrite message, Sent sent);
  void hint_via_stand_in(size_t owner_target);
  void keep_hint(const std::string& owner_id);
  void check_done();
  void answer(Status status);

  const WriteMachineOptions options_;
  const std::shared_ptr<const ClusterView> view_;
  const WriteRequest request_;
  HlcClock* const hlc_;
  const uint32_t partition_;
  const std::vector<uint32_t>& owners_;  // write owners, in *view_->ring
  const int base_required_;
  const int required_;  // W plus the pending owners
  uint64_t expiry_ms_ = 0;
  Record record_;
  int round_ = 0;
  std::optional<WriteQuorum> quorum_;
  std::vector<size_t> stand_ins_;
  std::vector<Sent> sent_;  // by tag
  bool stale_ring_ = false;
  bool superseded_ = false;
  bool clock_refused_ = false;
  bool answered_ = false;
  bool awaiting_ring_ = false;
  WriteEffects effects_;
};

}  // namespace chorus
