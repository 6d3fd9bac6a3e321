#include "tests/testkit/history.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

namespace chorus::testkit {
namespace {

using WriteRecord = History::WriteRecord;
using ReadRecord = History::ReadRecord;
using Kind = WriteOutcome::Kind;

bool is_acked(const WriteRecord& w) {
  return w.outcome.kind == Kind::kOk;
}

// Checks one key's operations and adds what it finds to a report.
class KeyChecker {
 public:
  KeyChecker(const std::string& key, const History::KeyHistory& history, uint64_t origin_ns,
             HistoryReport* report)
      : key_(key), history_(history), origin_ns_(origin_ns), report_(report) {
    index_writes();
  }

  void run() {
    count();
    check_later_writes();
    for (const ReadRecord& read : history_.reads) check_read(read);
    if (history_.final) check_final(*history_.final);
  }

 private:
  void index_writes() {
    for (const WriteRecord& w : history_.writes) {
      if (is_acked(w)) acked_by_end_.push_back(&w);
      if (w.value) by_value_.emplace(*w.value, &w);
    }
    std::sort(acked_by_end_.begin(), acked_by_end_.end(),
              [](const WriteRecord* a, const WriteRecord* b) { return a->end_ns < b->end_ns; });
    for (const WriteRecord* w : acked_by_end_) {
      bool newer =
          newest_prefix_.empty() || w->outcome.timestamp > newest_prefix_.back()->outcome.timestamp;
      newest_prefix_.push_back(newer ? w : newest_prefix_.back());
    }
  }

  // The acknowledged write with the highest timestamp among those that ended before t_ns.
  const WriteRecord* newest_acked_ended_before(uint64_t t_ns) const {
    auto it = std::lower_bound(acked_by_end_.begin(), acked_by_end_.end(), t_ns,
                               [](const WriteRecord* w, uint64_t t) { return w->end_ns < t; });
    size_t n = static_cast<size_t>(it - acked_by_end_.begin());
    return n == 0 ? nullptr : newest_prefix_[n - 1];
  }

  const WriteRecord* newest_acked() const {
    return newest_prefix_.empty() ? nullptr : newest_prefix_.back();
  }

  // Could a delete that started before before_ns legitimately have superseded `put`? Yes if it
  // was acknowledged with a version not older than put's (a newer timestamp, or the same one
  // stamped by a larger node id: concurrent coordinators can pick the same HLC value), or if its
  // outcome is unknown. An unacknowledged
  // delete may have reached only a replica that `put` never did, so nothing made `put` re-stamp
  // past it: its timestamp is unknown and may be newer even if it ended before `put` started.
  // Only acknowledged writes are promised to lose to later ones (DESIGN.md §1).
  bool delete_may_explain(const WriteRecord& put, uint64_t before_ns) const {
    for (const WriteRecord& d : history_.writes) {
      if (d.value || d.outcome.kind == Kind::kFailed || d.start_ns >= before_ns) continue;
      // A timestamp tie goes to the larger coordinator id; with an id unknown, either may win.
      if (!is_acked(d) || !newer_version(put.outcome, d.outcome)) return true;
    }
    return false;
  }

  void count() {
    for (const WriteRecord& w : history_.writes) {
      if (!w.value) ++report_->deletes;
      if (w.outcome.kind == Kind::kOk) ++report_->writes_ok;
      if (w.outcome.kind == Kind::kFailed) ++report_->writes_failed;
      if (w.outcome.kind == Kind::kIndeterminate) ++report_->writes_indeterminate;
    }
    for (const ReadRecord& r : history_.reads) {
      if (r.outcome.kind == ReadOutcome::Kind::kOk) ++report_->reads_ok;
      if (r.outcome.kind == ReadOutcome::Kind::kNotFound) ++report_->reads_not_found;
      if (r.outcome.kind == ReadOutcome::Kind::kFailed) ++report_->reads_failed;
    }
    ++report_->keys;
    if (history_.final) ++report_->keys_verified;
  }

  void check_later_writes() {
    for (const WriteRecord* later : acked_by_end_) {
      const WriteRecord* earlier = newest_acked_ended_before(later->start_ns);
      if (earlier == nullptr || newer_version(later->outcome, earlier->outcome)) continue;
      report_->later_write_lost.add("key '" + key_ + "': " + describe(*later) + " started after " +
                                    describe(*earlier) +
                                    " was acknowledged, but its timestamp is not newer");
    }
  }

  // Is the version (found, value, timestamp) at least as new as the acknowledged write `w`?
  static bool not_older_than(bool found, const std::string& value, uint64_t timestamp,
                             const WriteRecord& w) {
    if (found && w.value && value == *w.value) return true;  // w itself
    if (!found) return !w.value;                             // a tombstone is as new as a delete
    return timestamp >= w.outcome.timestamp;
  }

  void check_read(const ReadRecord& read) {
    const ReadOutcome& outcome = read.outcome;
    if (outcome.kind == ReadOutcome::Kind::kFailed) return;
    bool found = outcome.kind == ReadOutcome::Kind::kOk;
    if (found) check_known_value(outcome.value, read.end_ns, "read " + describe(read));
    const WriteRecord* w = newest_acked_ended_before(read.start_ns);
    if (w == nullptr || not_older_than(found, outcome.value, outcome.timestamp, *w)) return;
    if (!found && delete_may_explain(*w, read.end_ns)) return;
    report_->stale_reads.add("key '" + key_ + "': " + describe(read) + " started after " +
                             describe(*w) + " was acknowledged");
  }

  void check_final(const History::FinalRecord& final) {
    std::string what = final.found ? "'" + final.value + "'@" + std::to_string(final.timestamp)
                                   : std::string("not found");
    if (final.found) check_known_value(final.value, UINT64_MAX, "final read " + what);
    const WriteRecord* w = newest_acked();
    if (w == nullptr || not_older_than(final.found, final.value, final.timestamp, *w)) return;
    if (!final.found && delete_may_explain(*w, UINT64_MAX)) return;
    report_->lost_acknowledged_writes.add("key '" + key_ + "': final read " + what +
                                          ", but the newest acknowledged write is " + describe(*w));
  }

  // A returned value must come from a write that may have been applied and had started before
  // the read ended.
  void check_known_value(const std::string& value, uint64_t read_end_ns, const std::string& what) {
    auto it = by_value_.find(value);
    std::string problem;
    if (it == by_value_.end()) {
      problem = "no write wrote this value";
    } else if (it->second->outcome.kind == Kind::kFailed) {
      problem = "its only write failed definitely: " + describe(*it->second);
    } else if (it->second->start_ns > read_end_ns) {
      problem = "its write started after the read ended: " + describe(*it->second);
    }
    if (!problem.empty())
      report_->unknown_values.add("key '" + key_ + "': " + what + ": " + problem);
  }

  std::string ms(uint64_t ns) const {
    char text[32];
    std::snprintf(text, sizeof(text), "%.3f", (double(ns) - double(origin_ns_)) / 1e6);
    return text;
  }

  std::string describe(const WriteRecord& w) const {
    std::string what = w.value ? "put '" + *w.value + "'" : std::string("delete");
    if (is_acked(w)) what += "@" + std::to_string(w.outcome.timestamp);
    if (w.outcome.kind == Kind::kFailed) what += " (failed)";
    if (w.outcome.kind == Kind::kIndeterminate) what += " (indeterminate)";
    return what + " [" + ms(w.start_ns) + ".." + ms(w.end_ns) + " ms]";
  }

  std::string describe(const ReadRecord& r) const {
    std::string what = r.outcome.kind == ReadOutcome::Kind::kOk
                           ? "'" + r.outcome.value + "'@" + std::to_string(r.outcome.timestamp)
                           : std::string("not found");
    return "read -> " + what + " [" + ms(r.start_ns) + ".." + ms(r.end_ns) + " ms]";
  }

  const std::string& key_;
  const History::KeyHistory& history_;
  const uint64_t origin_ns_;
  HistoryReport* report_;
  std::vector<const WriteRecord*> acked_by_end_;   // acknowledged writes, by end time
  std::vector<const WriteRecord*> newest_prefix_;  // [j]: highest timestamp in acked_by_end_[0..j]
  std::map<std::string, const WriteRecord*> by_value_;
};

}  // namespace

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

void AnomalyList::add(std::string description) {
  ++count;
  if (examples.size() < kExamplesMax) examples.push_back(std::move(description));
}

bool HistoryReport::clean() const {
  return lost_acknowledged_writes.count == 0 && stale_reads.count == 0 &&
         later_write_lost.count == 0 && unknown_values.count == 0;
}

std::string HistoryReport::to_string() const {
  std::ostringstream out;
  out << "writes: " << writes_ok << " ok, " << writes_failed << " failed, " << writes_indeterminate
      << " indeterminate (" << deletes << " deletes); reads: " << reads_ok << " ok, "
      << reads_not_found << " not found, " << reads_failed << " failed; keys: " << keys << " ("
      << keys_verified << " verified)\n";
  auto list = [&out](const char* name, const AnomalyList& anomalies) {
    out << name << ": " << anomalies.count << "\n";
    for (const std::string& example : anomalies.examples) out << "  " << example << "\n";
  };
  list("lost_acknowledged_writes", lost_acknowledged_writes);
  list("stale_reads", stale_reads);
  list("later_write_lost", later_write_lost);
  list("unknown_values", unknown_values);
  return out.str();
}

void History::write(const std::string& key, const std::string& value, uint64_t start_ns,
                    uint64_t end_ns, const WriteOutcome& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  keys_[key].writes.push_back({value, start_ns, end_ns, outcome});
  first_start_ns_ = std::min(first_start_ns_, start_ns);
}

void History::del(const std::string& key, uint64_t start_ns, uint64_t end_ns,
                  WriteOutcome outcome) {
  if (outcome.kind == Kind::kOk && outcome.timestamp == 0) outcome = WriteOutcome::indeterminate();
  std::lock_guard<std::mutex> lock(mu_);
  keys_[key].writes.push_back({std::nullopt, start_ns, end_ns, outcome});
  first_start_ns_ = std::min(first_start_ns_, start_ns);
}

void History::read(const std::string& key, uint64_t start_ns, uint64_t end_ns,
                   ReadOutcome outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  keys_[key].reads.push_back({start_ns, end_ns, std::move(outcome)});
  first_start_ns_ = std::min(first_start_ns_, start_ns);
}

void History::record_final(const std::string& key, const std::string& value, uint64_t timestamp,
                           bool found) {
  std::lock_guard<std::mutex> lock(mu_);
  keys_[key].final = FinalRecord{found, found ? value : std::string(), timestamp};
}

HistoryReport History::check() const {
  std::lock_guard<std::mutex> lock(mu_);
  HistoryReport report;
  uint64_t origin_ns = first_start_ns_ == UINT64_MAX ? 0 : first_start_ns_;
  for (const auto& [key, history] : keys_) KeyChecker(key, history, origin_ns, &report).run();
  return report;
}

}  // namespace chorus::testkit
