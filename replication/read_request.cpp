#include "replication/read_request.h"

#include <algorithm>

#include "core/assert.h"
#include "ring/partitioner.h"

namespace chorus {

ReadRequestMachine::ReadRequestMachine(std::string self_id, std::shared_ptr<const ClusterView> view,
                                       ReadRequest request, int required, HlcClock* hlc)
    : self_id_(std::move(self_id)),
      view_(std::move(view)),
      key_(std::move(request.key)),
      hlc_(hlc),
      partition_(partition_of(key_, view_->ring->partitions())),
      owners_(view_->ring->owners(partition_)),
      required_(required),
      quorum_(owners_.size(), static_cast<size_t>(required)) {}

void ReadRequestMachine::start() {
  for (size_t i = 0; i < owners_.size(); ++i) {
    effects_.reads.push_back({i, owners_[i], ReplicaRead{hlc_->now(), key_}});
  }
}

void ReadRequestMachine::on_read_reply(uint64_t tag, Result<ReplicaReadReply> reply) {
  if (tag >= owners_.size()) return;
  if (reply.ok()) {
    (void)hlc_->observe(reply->sender_hlc);
    quorum_.on_reply(tag, reply->found ? std::optional<Record>(reply->record) : std::nullopt);
  } else {
    ++effects_.events.rpc_errors;
    quorum_.on_failure(tag);
  }
  if (repairing_ && !answered_) {
    if (reply.ok() && reply->found && reply->record.ts == repair_record_->ts &&
        reply->record.origin == repair_record_->origin) {
      ++holders_;
    }
    check_repair();
  } else if (answered_ || repairing_) {
    if (reply.ok()) ++effects_.events.late_replies;
  } else if (quorum_.decision() == QuorumDecision::kSucceeded) {
    repair_then_answer();
  } else if (quorum_.decision() == QuorumDecision::kFailed) {
    answer(Status::Unavailable(std::to_string(quorum_.replies()) + " of " +
                               std::to_string(required_) + " required replicas answered"));
  }
  if (quorum_.outstanding() == 0) repair_in_background();
}

ReplicaWrite ReadRequestMachine::repair_message() const {
  ReplicaWrite m;
  m.sender_hlc = hlc_->now();
  m.key = key_;
  m.partition = partition_;
  m.record = *quorum_.newest();
  return m;
}

// Before answering, the newest version is written to the repliers that lack it, so a value once
// returned is on enough replicas for every later quorum.
void ReadRequestMachine::repair_then_answer() {
  const std::vector<size_t> stale = quorum_.stale_targets();
  if (stale.empty() || !quorum_.newest()) return answer(Status::OK());
  repairing_ = true;
  repair_record_ = *quorum_.newest();
  pending_repairs_ = stale.size();
  holders_ = quorum_.replies() - stale.size();
  // N - R + 1 holders meet every later quorum read; and never fewer than the R repliers the
  // answer stood on before (with R above a majority N - R + 1 is below R).
  holders_needed_ =
      std::max(static_cast<size_t>(required_), owners_.size() - static_cast<size_t>(required_) + 1);
  effects_.events.repairs_blocking += stale.size();
  const ReplicaWrite message = repair_message();
  for (size_t target : stale) {
    const uint64_t tag = repair_targets_.size();
    repair_targets_.push_back(target);
    blocking_repair_.push_back(true);
    effects_.repairs.push_back({tag, owners_[target], message});
  }
}

void ReadRequestMachine::on_repair_reply(uint64_t tag, Result<ReplicaWriteReply> reply) {
  if (tag >= repair_targets_.size() || !blocking_repair_[tag]) return;
  blocking_repair_[tag] = false;  // each counts once
  if (reply.ok()) {
    (void)hlc_->observe(reply->sender_hlc);
    repaired_.push_back(repair_targets_[tag]);  // background repair skips only these
  } else {
    repair_failed_ = true;
  }
  if (reply.ok()) ++holders_;
  --pending_repairs_;
  if (!answered_) check_repair();
}

void ReadRequestMachine::check_repair() {
  if (holders_ >= holders_needed_ || (pending_repairs_ == 0 && !repair_failed_)) {
    return answer(Status::OK());
  }
  if (pending_repairs_ == 0 && quorum_.outstanding() == 0) {
    answer(
        Status::Unavailable("read repair of a stale replica failed, and too few replicas hold "
                            "the newest version to return it"));
  }
}

// Once, when every owner has answered or the deadline passed.
void ReadRequestMachine::repair_in_background() {
  if (background_done_) return;
  background_done_ = true;
  effects_.done = true;
  if (!quorum_.newest()) return;
  const bool same_version = repair_record_ && quorum_.newest()->ts == repair_record_->ts &&
                            quorum_.newest()->origin == repair_record_->origin;
  // A blocking repair still in flight (the answer may come before it) counts as done here.
  auto pending_repair = [this](size_t target) {
    for (size_t tag = 0; tag < repair_targets_.size(); ++tag) {
      if (repair_targets_[tag] == target && blocking_repair_[tag]) return true;
    }
    return false;
  };
  for (size_t target : quorum_.stale_targets()) {
    if (same_version && (std::find(repaired_.begin(), repaired_.end(), target) != repaired_.end() ||
                         pending_repair(target))) {
      continue;
    }
    ++effects_.events.repairs_background;
    const uint64_t tag = repair_targets_.size();
    repair_targets_.push_back(target);
    blocking_repair_.push_back(false);
    effects_.repairs.push_back({tag, owners_[target], repair_message()});
  }
}

void ReadRequestMachine::on_deadline() {
  if (!answered_) answer(Status::Timeout("read deadline passed"));
  repair_in_background();
}

void ReadRequestMachine::answer(Status status) {
  CHORUS_ASSERT(!answered_);
  answered_ = true;
  ReadResponse response;
  response.replies = static_cast<int>(quorum_.replies());
  response.required = required_;
  if (status.ok()) {
    if (repair_record_) {
      response.record = repair_record_;
    } else if (quorum_.newest()) {
      response.record = quorum_.newest();
    } else {
      status = Status::NotFound();
    }
  }
  response.status = std::move(status);
  effects_.response = std::move(response);
}

ReadEffects ReadRequestMachine::take_effects() {
  ReadEffects out = std::move(effects_);
  effects_ = ReadEffects{};
  return out;
}

}  // namespace chorus
