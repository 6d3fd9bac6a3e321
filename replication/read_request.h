// ReadRequestMachine: the whole decision of one coordinated client read (DESIGN.md §5), pure in
// the same way as WriteRequestMachine: start(), replies fed back by tag, the deadline; effects out.
//
// Rules:
//   - Ask every owner of the partition; once R replied (found or not), decide on the newest
//     version among the replies.
//   - Monotonic quorum reads (DESIGN.md §1): if those repliers disagree, write the newest version
//     to the stale ones before answering (blocking read repair). The answer is that version once
//     it is on max(R, N - R + 1) replicas (repliers that held it, repairs that succeeded, owners
//     that answer later holding it), so every later quorum read meets it; a failed repair is then
//     harmless (a replica that cannot write, e.g. on a full disk, does not stop reads). When every
//     repair and owner has answered short of that: Unavailable. A newer version arriving during
//     the repair is on too few replicas to be returned yet.
//   - Replicas that answer later with an older version (or none) are repaired in the background,
//     once, when every owner has answered or the deadline passed; those the blocking repair already
//     brought up to the answered version, or is still bringing up, are skipped.
//   - Unavailable when R replies are out of reach; Timeout at the deadline; NotFound when no
//     replier holds the key.
// The response is produced exactly once.
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

struct ReadRequest {
  std::string key;
  int r = 0;  // 0 = default
};

struct ReadResponse {
  // OK with the newest record (possibly a tombstone or expired); NotFound when no replier holds
  // the key; InvalidArgument; Unavailable; Timeout; Busy.
  Status status;
  int replies = 0;
  int required = 0;
  std::optional<Record> record;
};

struct ReadSend {
  uint64_t tag = 0;
  size_t member = 0;
  ReplicaRead message;
};

// A read repair: a replica write to `member` (the driver applies it locally for this node).
struct RepairSend {
  uint64_t tag = 0;
  size_t member = 0;
  ReplicaWrite message;
};

struct ReadEvents {
  uint64_t rpc_errors = 0;
  uint64_t late_replies = 0;
  uint64_t repairs_blocking = 0;
  uint64_t repairs_background = 0;
};

struct ReadEffects {
  std::vector<ReadSend> reads;
  std::vector<RepairSend> repairs;
  std::optional<ReadResponse> response;
  // Every owner answered (or the deadline passed) and the background repairs are sent. Once the
  // request is also answered, its deadline no longer matters.
  bool done = false;
  ReadEvents events;
};

class ReadRequestMachine {
 public:
  ReadRequestMachine(std::string self_id, std::shared_ptr<const ClusterView> view,
                     ReadRequest request, int required, HlcClock* hlc);

  void start();
  void on_read_reply(uint64_t tag, Result<ReplicaReadReply> reply);
  void on_repair_reply(uint64_t tag, Result<ReplicaWriteReply> reply);
  void on_deadline();

  ReadEffects take_effects();

  bool answered() const { return answered_; }
  const ClusterView& view() const { return *view_; }

 private:
  const Member& member(size_t index) const { return view_->ring->members()[index]; }
  ReplicaWrite repair_message() const;
  void repair_then_answer();
  // While repairing: answers once holders_ suffice, or fails once nothing more can come.
  void check_repair();
  void repair_in_background();
  void answer(Status status);

  const std::string self_id_;
  const std::shared_ptr<const ClusterView> view_;
  const std::string key_;
  HlcClock* const hlc_;
  const uint32_t partition_;
  const std::vector<uint32_t>& owners_;  // in *view_->ring
  const int required_;
  ReadQuorum quorum_;
  bool answered_ = false;
  bool repairing_ = false;
  bool repair_failed_ = false;
  // Replicas known to hold repair_record_'s version, and how many must before it is answered.
  size_t holders_ = 0;
  size_t holders_needed_ = 0;
  bool background_done_ = false;
  size_t pending_repairs_ = 0;
  std::optional<Record> repair_record_;  // what a blocking repair wrote: the answer
  std::vector<size_t> repair_targets_;   // by repair tag: the owner target it repairs
  std::vector<bool> blocking_repair_;    // by repair tag
  std::vector<size_t> repaired_;         // targets the blocking repair brought up to date
  ReadEffects effects_;
};

}  // namespace chorus
