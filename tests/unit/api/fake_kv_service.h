// FakeKvService: an in-memory KvService for the api tests. It stores records in a map, stamps
// writes with increasing timestamps and node "n1", remembers the arguments of the last read and
// write, and can be told to fail every call with a given Status (and reply counts) or to hold
// completions until the test releases them (from the test thread, so they complete on a foreign
// thread). Thread-safe: one mutex; completions run outside it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/kv_service.h"
#include "core/clock.h"

namespace chorus::test {

class FakeKvService final : public KvService {
 public:
  explicit FakeKvService(const Clock* clock) : clock_(clock) {}

  void write(WriteArgs args, std::function<void(WriteOutcome)> done) override {
    std::unique_lock<std::mutex> lock(mu_);
    last_write_ = args;
    ++writes_;
    if (hold_) {
      held_.push_back(
          [this, args = std::move(args), done = std::move(done)] { done(apply(args)); });
      return;
    }
    if (!failure_.ok()) {
      WriteOutcome outcome{failure_, failure_count_, failure_required_, {}, {}};
      lock.unlock();
      done(outcome);
      return;
    }
    WriteOutcome outcome = apply_locked(args);
    lock.unlock();
    done(outcome);
  }

  void read(ReadArgs args, std::function<void(ReadOutcome)> done) override {
    std::unique_lock<std::mutex> lock(mu_);
    last_read_ = args;
    ++reads_;
    ReadOutcome outcome;
    if (!failure_.ok()) {
      outcome.status = failure_;
      outcome.replies = failure_count_;
      outcome.required = failure_required_;
    } else if (auto it = records_.find(args.key); it != records_.end()) {
      outcome.record = it->second;
      outcome.replies = 2;
      outcome.required = 2;
    } else {
      outcome.status = Status::NotFound("no replica holds the key");
    }
    if (hold_) {
      held_.push_back([outcome, done = std::move(done)] { done(outcome); });
      return;
    }
    lock.unlock();
    done(outcome);
  }

  void change_membership(MembershipChange change, std::function<void(Status)> done) override {
    std::unique_lock<std::mutex> lock(mu_);
    changes_.push_back(change);
    Status st = membership_status_;
    lock.unlock();
    done(st);
  }
  void set_membership_status(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    membership_status_ = std::move(st);
  }
  std::vector<MembershipChange> changes() {
    std::lock_guard<std::mutex> lock(mu_);
    return changes_;
  }

  nlohmann::json cluster_status() override {
    return {{"node", "n1"},
            {"epoch", 4},
            {"partitions", 256},
            {"replicas", 3},
            {"raft", {{"role", "leader"}, {"term", 2}, {"leader", "n1"}}},
            {"members", nlohmann::json::array({{{"id", "n1"},
                                                {"peer", "127.0.0.1:7000"},
                                                {"http", "127.0.0.1:8080"},
                                                {"state", "alive"}}})}};
  }
  bool ready() override {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_;
  }
  nlohmann::json debug_owners(const std::string& key) override {
    return {{"key", key}, {"partition", 7}, {"owners", {"n1", "n2", "n3"}}};
  }
  Result<Record> debug_local(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.ok()) return failure_;
    auto it = records_.find(key);
    if (it == records_.end()) return Status::NotFound("no local replica");
    return it->second;
  }

  Status repair_now() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++repairs_;
    return Status::OK();
  }
  nlohmann::json repair_status() override {
    std::lock_guard<std::mutex> lock(mu_);
    return {{"queued", repairs_}};
  }

  // ---- test controls ----
  void fail_with(Status status, int count = 0, int required = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = std::move(status);
    failure_count_ = count;
    failure_required_ = required;
  }
  void set_ready(bool ready) {
    std::lock_guard<std::mutex> lock(mu_);
    ready_ = ready;
  }
  void set_hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
  }
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  // Completes every held call on the calling thread.
  void release_held() {
    std::vector<std::function<void()>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& complete : held) complete();
  }
  void put_record(const std::string& key, Record record) {
    std::lock_guard<std::mutex> lock(mu_);
    records_[key] = std::move(record);
  }
  std::optional<Record> record(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = records_.find(key);
    if (it == records_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<WriteArgs> last_write() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_write_;
  }
  std::optional<ReadArgs> last_read() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_read_;
  }
  int writes() {
    std::lock_guard<std::mutex> lock(mu_);
    return writes_;
  }
  int reads() {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_;
  }

 private:
  std::vector<MembershipChange> changes_;
  Status membership_status_;
  WriteOutcome apply(const WriteArgs& args) {
    std::lock_guard<std::mutex> lock(mu_);
    return apply_locked(args);
  }
  WriteOutcome apply_locked(const WriteArgs& args) {
    Record record;
    record.value = args.value;
    record.tombstone = args.tombstone;
    record.ts = Timestamp::from_parts(clock_->wall_ms(), ++logical_);
    record.origin = "n1";
    record.epoch = 4;
    record.expiry_ms = args.ttl_s == 0 ? 0 : clock_->wall_ms() + args.ttl_s * 1000;
    records_[args.key] = record;
    return WriteOutcome{Status::OK(), 3, 2, record.ts, "n1"};
  }

  const Clock* clock_;
  std::mutex mu_;
  std::map<std::string, Record> records_;
  Status failure_;
  int failure_count_ = 0;
  int failure_required_ = 0;
  bool ready_ = true;
  int repairs_ = 0;
  bool hold_ = false;
  std::vector<std::function<void()>> held_;
  std::optional<WriteArgs> last_write_;
  std::optional<ReadArgs> last_read_;
  int writes_ = 0;
  int reads_ = 0;
  uint16_t logical_ = 0;
};

}  // namespace chorus::test
