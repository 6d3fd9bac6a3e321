// Quorum bookkeeping for one request, as pure state machines (no I/O, no clocks, no threads).
//
// The coordinator feeds in each replica's reply as it arrives and asks for the decision. Each
// target must report exactly once (a reply or a failure); reporting twice is a programming error
// and asserts. A decision never changes once made, so late replies can be fed in safely.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "core/record.h"

namespace chorus {

enum class QuorumDecision { kPending, kSucceeded, kFailed };

// Counts acknowledgements of a write sent to `targets` replicas until `required` have acknowledged
// (succeeded) or so many failed that `required` is out of reach (failed).
class WriteQuorum {
 public:
  WriteQuorum(size_t targets, size_t required);

  void on_ack(size_t target);
  void on_failure(size_t target);

  QuorumDecision decision() const { return decision_; }
  size_t acks() const { return acks_; }
  size_t failures() const { return failures_; }
  size_t outstanding() const { return targets_ - acks_ - failures_; }
  size_t required() const { return required_; }

 private:
  void report(size_t target);
  void decide();

  const size_t targets_;
  const size_t required_;
  std::vector<bool> reported_;
  size_t acks_ = 0;
  size_t failures_ = 0;
  QuorumDecision decision_ = QuorumDecision::kPending;
};

// Collects read replies from `targets` replicas. Succeeds once `required` replied (found or not);
// fails when that is out of reach. Tracks the newest version seen so far and who is stale.
class ReadQuorum {
 public:
  ReadQuorum(size_t targets, size_t required);

  // record: the replica's version, or nullopt when it holds none.
  void on_reply(size_t target, std::optional<Record> record);
  void on_failure(size_t target);

  QuorumDecision decision() const { return decision_; }
  size_t replies() const { return replies_; }
  size_t required() const { return required_; }
  size_t outstanding() const { return targets_ - replies_ - failures_; }
  // Newest version among all replies so far; nullopt if nobody holds the key.
  const std::optional<Record>& newest() const { return newest_; }
  // Targets that replied with an older version or none while a newer one exists.
  std::vector<size_t> stale_targets() const;

 private:
  enum class Seen { kNone, kReplied, kFailed };
  void decide();

  const size_t targets_;
  const size_t required_;
  std::vector<Seen> seen_;
  std::vector<std::optional<Record>> records_;
  size_t replies_ = 0;
  size_t failures_ = 0;
  std::optional<Record> newest_;
  QuorumDecision decision_ = QuorumDecision::kPending;
};

}  // namespace chorus
