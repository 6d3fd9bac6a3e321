#include "replication/quorum.h"

#include "core/assert.h"

namespace chorus {

WriteQuorum::WriteQuorum(size_t targets, size_t required)
    : targets_(targets), required_(required), reported_(targets, false) {
  CHORUS_ASSERT(required >= 1);
  decide();  // fewer targets than required fails at once
}

void WriteQuorum::report(size_t target) {
  CHORUS_ASSERT(target < targets_);
  CHORUS_ASSERT(!reported_[target], "a target reports exactly once");
  reported_[target] = true;
}

void WriteQuorum::on_ack(size_t target) {
  report(target);
  ++acks_;
  decide();
}

void WriteQuorum::on_failure(size_t target) {
  report(target);
  ++failures_;
  decide();
}

void WriteQuorum::decide() {
  if (decision_ != QuorumDecision::kPending) return;
  if (acks_ >= required_) {
    decision_ = QuorumDecision::kSucceeded;
  } else if (acks_ + outstanding() < required_) {
    decision_ = QuorumDecision::kFailed;
  }
}

ReadQuorum::ReadQuorum(size_t targets, size_t required)
    : targets_(targets), required_(required), seen_(targets, Seen::kNone), records_(targets) {
  CHORUS_ASSERT(required >= 1);
  decide();
}

void ReadQuorum::on_reply(size_t target, std::optional<Record> record) {
  CHORUS_ASSERT(target < targets_ && seen_[target] == Seen::kNone);
  seen_[target] = Seen::kReplied;
  ++replies_;
  if (record && (!newest_ || newer_than(*record, *newest_))) newest_ = *record;
  records_[target] = std::move(record);
  decide();
}

void ReadQuorum::on_failure(size_t target) {
  CHORUS_ASSERT(target < targets_ && seen_[target] == Seen::kNone);
  seen_[target] = Seen::kFailed;
  ++failures_;
  decide();
}

std::vector<size_t> ReadQuorum::stale_targets() const {
  std::vector<size_t> stale;
  if (!newest_) return stale;
  for (size_t i = 0; i < targets_; ++i) {
    if (seen_[i] != Seen::kReplied) continue;
    if (!records_[i] || newer_than(*newest_, *records_[i])) stale.push_back(i);
  }
  return stale;
}

void ReadQuorum::decide() {
  if (decision_ != QuorumDecision::kPending) return;
  if (replies_ >= required_) {
    decision_ = QuorumDecision::kSucceeded;
  } else if (replies_ + outstanding() < required_) {
    decision_ = QuorumDecision::kFailed;
  }
}

}  // namespace chorus
