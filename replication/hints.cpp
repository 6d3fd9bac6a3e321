#include "replication/hints.h"

#include "core/coding.h"
#include "core/limits.h"

#include <spdlog/spdlog.h>

namespace chorus {
namespace {

constexpr size_t kRecordBytesMax = kValueBytesMaxLimit + kRecordOverheadBytesMax;

Status decode_hint(std::string_view engine_key, std::string_view value, Hint* hint) {
  Reader in(value);
  uint64_t stored = 0;
  uint32_t partition = 0;
  std::string_view key;
  if (!in.get_fixed64(&stored) || !in.get_fixed32(&partition) ||
      !in.get_length_prefixed(&key, kKeyBytesMax)) {
    return Status::Corruption("malformed hint");
  }
  if (in.remaining() > kRecordBytesMax) return Status::Corruption("oversized hint");
  CHORUS_RETURN_IF_ERROR(decode_record(in.rest(), &hint->record));
  hint->engine_key.assign(engine_key);
  hint->key.assign(key);
  hint->partition = partition;
  hint->stored_wall_ms = stored;
  hint->bytes = engine_key.size() + value.size();
  return Status::OK();
}

}  // namespace

HintStore::HintStore(std::unique_ptr<Engine> engine, const Clock* clock, HintOptions options,
                     MetricsRegistry* metrics)
    : engine_(std::move(engine)),
      clock_(clock),
      options_(options),
      stored_(metrics->counter("chorus_hints_stored_total", "Hints stored for unreachable owners")),
      refused_(metrics->counter("chorus_hints_refused_total",
                                "Hints refused because the target's bound was reached")),
      pending_bytes_(metrics->gauge("chorus_hints_pending_bytes", "Bytes of undelivered hints")),
      corrupt_(metrics->counter("chorus_hints_corrupt_total",
                                "Hints that failed their checksum and were dropped")) {}

std::string HintStore::prefix(const std::string& target) {
  std::string p = "h" + target;
  p.push_back('\0');
  return p;
}

Status HintStore::open() {
  auto it = engine_->scan("h", "i");
  uint64_t max_seq = 0;
  for (; it->valid(); it->next()) {
    std::string_view k = it->key();
    const size_t nul = k.find('\0');
    if (nul == std::string_view::npos || k.size() != nul + 9) {
      return Status::Corruption("malformed hint key");
    }
    std::string target(k.substr(1, nul - 1));
    max_seq = std::max(max_seq, decode_big_endian64(k.data() + nul + 1));
    account(target, static_cast<int64_t>(k.size() + it->value().size()), 1);
  }
  CHORUS_RETURN_IF_ERROR(it->status());
  next_seq_ = max_seq + 1;
  return Status::OK();
}

Status HintStore::add(const std::string& target, std::string_view key, uint32_t partition,
                      const Record& record, bool sync) {
  if (!options_.enabled) return Status::Unavailable("hinted handoff is disabled");
  std::string engine_key = prefix(target);
  put_big_endian64(&engine_key, next_seq_.fetch_add(1));
  std::string value;
  put_fixed64(&value, clock_->wall_ms());
  put_fixed32(&value, partition);
  put_length_prefixed(&value, key);
  encode_record_to(record, &value);
  const uint64_t bytes = engine_key.size() + value.size();
  if (pending_bytes(target) + bytes > options_.bytes_per_target_max) {
    refused_->inc();
    return Status::Busy("hint bound reached for " + target);
  }
  WriteBatch batch;
  batch.put(engine_key, value);
  CHORUS_RETURN_IF_ERROR(engine_->write(batch, sync));
  account(target, static_cast<int64_t>(bytes), 1);
  stored_->inc();
  return Status::OK();
}

Status HintStore::peek(const std::string& target, size_t max_count, std::vector<Hint>* out) {
  std::string begin = prefix(target);
  std::string end = begin;
  end.back() = '\1';
  auto it = engine_->scan(begin, end);
  std::vector<Hint> corrupt;
  for (; it->valid() && out->size() < max_count; it->next()) {
    Hint hint;
    Status st = decode_hint(it->key(), it->value(), &hint);
    if (!st.ok()) {
      // A damaged hint must not block the ones behind it. It is reported and dropped: hints are a
      // shortcut, and read repair (and anti-entropy) still converge the key it carried.
      spdlog::error("dropping corrupt hint for {}: {}", target, st.to_string());
      corrupt_->inc();
      Hint bad;
      bad.engine_key.assign(it->key());
      bad.bytes = it->key().size() + it->value().size();
      corrupt.push_back(std::move(bad));
      continue;
    }
    out->push_back(std::move(hint));
  }
  CHORUS_RETURN_IF_ERROR(it->status());
  return remove(target, corrupt);
}

Status HintStore::remove(const std::string& target, const std::vector<Hint>& hints) {
  if (hints.empty()) return Status::OK();
  WriteBatch batch;
  uint64_t bytes = 0;
  for (const Hint& h : hints) {
    batch.del(h.engine_key);
    bytes += h.bytes;
  }
  CHORUS_RETURN_IF_ERROR(engine_->write(batch, false));
  account(target, -static_cast<int64_t>(bytes), -static_cast<int64_t>(hints.size()));
  return Status::OK();
}

void HintStore::account(const std::string& target, int64_t bytes, int64_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  Pending& p = pending_[target];
  p.bytes = static_cast<uint64_t>(static_cast<int64_t>(p.bytes) + bytes);
  p.count = static_cast<uint64_t>(static_cast<int64_t>(p.count) + count);
  if (p.count == 0) pending_.erase(target);
  pending_bytes_->add(bytes);
}

std::vector<std::string> HintStore::targets() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [target, p] : pending_) out.push_back(target);
  return out;
}

uint64_t HintStore::pending_bytes(const std::string& target) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(target);
  return it == pending_.end() ? 0 : it->second.bytes;
}

uint64_t HintStore::pending_count(const std::string& target) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(target);
  return it == pending_.end() ? 0 : it->second.count;
}

}  // namespace chorus
