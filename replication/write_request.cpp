#include "replication/write_request.h"

#include <algorithm>

#include "core/assert.h"
#include "ring/partitioner.h"

namespace chorus {

WriteRequestMachine::WriteRequestMachine(WriteMachineOptions options,
                                         std::shared_ptr<const ClusterView> view,
                                         WriteRequest request, int required, HlcClock* hlc)
    : options_(std::move(options)),
      view_(std::move(view)),
      request_(std::move(request)),
      hlc_(hlc),
      partition_(partition_of(request_.key, view_->ring->partitions())),
      owners_(view_->ring->write_owners(partition_)),
      base_required_(required),
      // Pending owners raise W by their number (as Cassandra's pending endpoints): then W of the
      // acks fall on the current owners and W on the target owners, whichever way it goes.
      required_(required + static_cast<int>(view_->ring->pending_count(partition_))) {}

void WriteRequestMachine::start(uint64_t now_wall_ms) {
  expiry_ms_ = request_.ttl_s == 0 ? 0 : now_wall_ms + request_.ttl_s * 1000;
  ++round_;
  send_round();
}

ReplicaWrite WriteRequestMachine::message(const std::string& hint_for) const {
  ReplicaWrite m;
  m.sender_hlc = hlc_->now();
  m.key = request_.key;
  m.partition = partition_;
  m.record = record_;
  m.sync = request_.sync;
  m.hint_for = hint_for;
  m.view_epoch = hint_for.empty() ? view_->ring->epoch() : 0;
  return m;
}

void WriteRequestMachine::send(size_t member_index, ReplicaWrite message, Sent sent) {
  const uint64_t tag = sent_.size();
  sent_.push_back(std::move(sent));
  effects_.sends.push_back({tag, member_index, std::move(message)});
}

// Stamps the record and sends it to every owner. Replies of earlier rounds only make hints.
void WriteRequestMachine::send_round() {
  record_.value = request_.value;
  record_.tombstone = request_.tombstone;
  record_.ts = hlc_->now();
  record_.origin = options_.self_id;
  record_.epoch = view_->ring->epoch();
  record_.expiry_ms = expiry_ms_;
  quorum_.emplace(owners_.size(), static_cast<size_t>(required_));
  stand_ins_.clear();
  for (size_t i = 0; i < owners_.size(); ++i) {
    const size_t index = owners_[i];
    if (!is_self(index) && !view_->alive(index)) {
      quorum_->on_failure(i);
      hint_via_stand_in(i);
      continue;
    }
    send(index, message({}), Sent{round_, i, false, {}});
  }
  check_done();
}

void WriteRequestMachine::on_reply(uint64_t tag, Result<ReplicaWriteReply> reply) {
  if (tag >= sent_.size()) return;  // not ours: nothing to decide on
  const Sent sent = sent_[tag];
  if (reply.ok()) (void)hlc_->observe(reply->sender_hlc);
  if (sent.stand_in) {
    // The stand-in could not keep the hint: keep it here.
    if (!reply.ok()) keep_hint(sent.owner_id);
    return;
  }
  const size_t index = owners_[sent.target];
  if (!reply.ok()) {
    ++effects_.events.rpc_errors;
    // Even after the client got its answer, the owner that missed this round's version must get
    // it later: keep a hint. An older round's version is superseded, so it needs none.
    if (sent.round == round_) keep_hint(member(index).id);
  }
  if (answered_ || awaiting_ring_ || sent.round != round_) {
    if (reply.ok()) ++effects_.events.late_replies;
    return;
  }
  if (!reply.ok()) {
    if (reply.status().is_unavailable() &&
        reply.status().message().rfind(kStaleRingPrefix, 0) == 0) {
      stale_ring_ = true;
    }
    quorum_->on_failure(sent.target);
  } else if (reply->applied || options_.restamp_disabled_for_test) {
    quorum_->on_ack(sent.target);
  } else if (!hlc_->observe(reply->current_ts).ok()) {
    // The newer version is stamped beyond our clock's drift bound: re-stamping cannot pass it.
    clock_refused_ = true;
    ++effects_.events.future_versions;
    quorum_->on_failure(sent.target);
  } else if (round_ <= options_.restamp_rounds_max) {
    // The replica holds a newer version. Re-stamp past it (the clock has observed it, so the next
    // stamp is later) so this write, which may have started after that version was
    // acknowledged, still wins (DESIGN.md §1).
    ++effects_.events.restamps;
    ++round_;
    send_round();
    return;
  } else {
    ++effects_.events.restamps_exhausted;
    superseded_ = true;
    quorum_->on_failure(sent.target);
  }
  check_done();
}

// A dead owner's copy goes to the next live node on the ring walk as a hint.
void WriteRequestMachine::hint_via_stand_in(size_t owner_target) {
  const std::string owner_id = member(owners_[owner_target]).id;
  const auto& walk = view_->ring->walk(partition_);
  for (size_t i = owners_.size(); i < walk.size(); ++i) {
    const size_t candidate = walk[i];
    if (!view_->alive(candidate) && !is_self(candidate)) continue;
    if (std::find(stand_ins_.begin(), stand_ins_.end(), candidate) != stand_ins_.end()) continue;
    stand_ins_.push_back(candidate);
    send(candidate, message(owner_id), Sent{round_, owner_target, true, owner_id});
    return;
  }
  keep_hint(owner_id);
}

void WriteRequestMachine::keep_hint(const std::string& owner_id) {
  effects_.hints.push_back({owner_id, request_.key, partition_, record_, request_.sync});
}

void WriteRequestMachine::check_done() {
  if (answered_ || awaiting_ring_) return;
  if (quorum_->decision() == QuorumDecision::kSucceeded) return answer(Status::OK());
  if (quorum_->decision() != QuorumDecision::kFailed || quorum_->outstanding() != 0) return;
  if (stale_ring_ && options_.retry_allowed) {
    awaiting_ring_ = true;
    effects_.retry_with_newer_ring = true;
    return;
  }
  no_newer_ring();
}

void WriteRequestMachine::no_newer_ring() {
  if (answered_) return;
  awaiting_ring_ = false;
  std::string message = std::to_string(quorum_->acks()) + " of " + std::to_string(required_) +
                        " required replicas acknowledged the write";
  if (superseded_) message += " (the key kept receiving newer concurrent writes; retry)";
  if (clock_refused_) {
    message += " (a replica holds a version stamped too far in the future: check node clocks)";
  }
  answer(Status::Unavailable(std::move(message)));
}

void WriteRequestMachine::on_deadline() {
  if (!answered_) answer(Status::Timeout("write deadline passed"));
}

void WriteRequestMachine::answer(Status status) {
  CHORUS_ASSERT(!answered_);
  answered_ = true;
  awaiting_ring_ = false;
  WriteResponse response;
  response.acks = static_cast<int>(quorum_ ? quorum_->acks() : 0);
  response.required = required_;
  response.ts = record_.ts;
  response.node = options_.self_id;
  response.status = std::move(status);
  effects_.response = std::move(response);
}

WriteEffects WriteRequestMachine::take_effects() {
  WriteEffects out = std::move(effects_);
  effects_ = WriteEffects{};
  return out;
}

}  // namespace chorus
