#include "engines/store.h"

#include <utility>

#include "core/coding.h"
#include "core/limits.h"

namespace chorus {
namespace {

constexpr size_t kKeyInMessageBytesMax = 64;

// Keys are arbitrary bytes; error messages show them escaped and truncated.
std::string printable(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size() && i < kKeyInMessageBytesMax; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  if (key.size() > kKeyInMessageBytesMax) out += "...";
  return "'" + out + "'";
}

Status check_key(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("empty key");
  if (key.size() > kKeyBytesMax) {
    return Status::InvalidArgument("key of " + std::to_string(key.size()) + " bytes exceeds " +
                                   std::to_string(kKeyBytesMax));
  }
  return Status::OK();
}

// Rejects what encode_record() would write but decode_record() refuses to read back.
Status check_record(const Record& record) {
  if (record.origin.empty()) return Status::InvalidArgument("record has no origin node");
  if (record.origin.size() > kNodeIdBytesMax) {
    return Status::InvalidArgument("origin of " + std::to_string(record.origin.size()) +
                                   " bytes exceeds " + std::to_string(kNodeIdBytesMax));
  }
  if (record.value.size() > kValueBytesMaxLimit) {
    return Status::TooLarge("value of " + std::to_string(record.value.size()) + " bytes exceeds " +
                            std::to_string(kValueBytesMaxLimit));
  }
  return Status::OK();
}

// The smallest string above every string that starts with `prefix`. Store prefixes start with a
// keyspace tag below 0xff, so the result is never empty (which would mean "no upper bound").
std::string prefix_end(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) {
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  }
  return prefix;
}

std::string index_prefix(uint32_t partition, uint64_t epoch) {
  std::string out;
  out.reserve(kIndexPrefixBytes);
  out.push_back(kIndexKeyspace);
  put_big_endian32(&out, partition);
  put_big_endian64(&out, epoch);
  return out;
}

}  // namespace

std::string store_record_key(std::string_view key) {
  std::string out;
  out.reserve(1 + key.size());
  out.push_back(kRecordKeyspace);
  out.append(key);
  return out;
}

std::string store_index_key(uint32_t partition, uint64_t epoch, std::string_view key) {
  std::string out = index_prefix(partition, epoch);
  out.append(key);
  return out;
}

Store::Store(std::unique_ptr<Engine> engine, const Clock* clock)
    : engine_(std::move(engine)), clock_(clock) {}

std::mutex& Store::stripe_for(std::string_view key) {
  return apply_stripes_[std::hash<std::string_view>{}(key) % kApplyStripes];
}

Status Store::read_stored(std::string_view key, Record* record) {
  std::string bytes;
  CHORUS_RETURN_IF_ERROR(engine_->get(store_record_key(key), &bytes));
  Record decoded;
  const Status s = decode_record(bytes, &decoded);
  if (!s.ok()) {
    return Status::Corruption("stored record of key " + printable(key) + ": " + s.message());
  }
  *record = std::move(decoded);
  return Status::OK();
}

Result<ApplyResult> Store::apply(std::string_view key, uint32_t partition, const Record& record,
                                 bool sync) {
  CHORUS_RETURN_IF_ERROR(check_key(key));
  CHORUS_RETURN_IF_ERROR(check_record(record));
  // Encode and hash before taking the lock so it covers only the two engine calls.
  std::string index_value;
  put_fixed64(&index_value, record.ts.packed);
  put_fixed64(&index_value, record_digest(record));
  WriteBatch batch;
  batch.put(store_record_key(key), encode_record(record));
  batch.put(store_index_key(partition, record.epoch, key), index_value);

  // Why striped mutexes: the read-compare-write must be atomic per key, or two concurrent applies
  // could both read the old version and the older one could land last (and leave two index
  // entries). The critical section is one short engine get + write (with sync=true it includes the
  // fsync, which RocksDB/LevelDB group-commit anyway), so blocking is cheap, and a stripe collision
  // only delays, never deadlocks (one lock at a time, no other lock taken inside). A strand per key
  // would need an executor object per live key and a hop per apply; a mutex per key, an unbounded
  // table. A fixed array is bounded and needs no cleanup.
  {
    std::lock_guard<std::mutex> lock(stripe_for(key));
    Record stored;
    const Status read = read_stored(key, &stored);
    if (!read.ok() && !read.is_not_found()) return read;  // Corruption or IOError: write nothing
    if (read.ok()) {
      if (!newer_than(record, stored)) return ApplyResult{false, std::move(stored)};
      // When the epoch moved the new index entry is another engine key, so op order is irrelevant.
      if (stored.epoch != record.epoch) batch.del(store_index_key(partition, stored.epoch, key));
    }
    CHORUS_RETURN_IF_ERROR(engine_->write(batch, sync));
  }
  if (observer_) observer_(partition, record.epoch);
  return ApplyResult{true, record};
}

Result<bool> Store::collect_tombstone(std::string_view key, uint32_t partition, uint64_t digest) {
  CHORUS_RETURN_IF_ERROR(check_key(key));
  std::lock_guard<std::mutex> lock(stripe_for(key));
  Record stored;
  const Status read = read_stored(key, &stored);
  if (read.is_not_found()) return false;
  CHORUS_RETURN_IF_ERROR(read);
  if (!stored.tombstone || record_digest(stored) != digest) return false;
  WriteBatch batch;
  batch.del(store_record_key(key));
  batch.del(store_index_key(partition, stored.epoch, key));
  CHORUS_RETURN_IF_ERROR(engine_->write(batch, /*sync=*/false));
  return true;
}

Status Store::get(std::string_view key, Record* record) {
  CHORUS_RETURN_IF_ERROR(check_key(key));
  return read_stored(key, record);
}

Status Store::scan_index(
    uint32_t partition, uint64_t epoch,
    const std::function<bool(std::string_view key, Timestamp ts, uint64_t digest)>& fn) {
  return scan_index_range(partition, epoch, epoch,
                          [&fn](uint64_t, std::string_view key, Timestamp ts, uint64_t digest) {
                            return fn(key, ts, digest);
                          });
}

Status Store::scan_index_range(uint32_t partition, uint64_t epoch_first, uint64_t epoch_last,
                               const std::function<bool(uint64_t epoch, std::string_view key,
                                                        Timestamp ts, uint64_t digest)>& fn) {
  if (epoch_first > epoch_last) return Status::OK();
  const std::string begin = index_prefix(partition, epoch_first);
  const std::string end = prefix_end(index_prefix(partition, epoch_last));
  std::unique_ptr<EngineIterator> it = engine_->scan(begin, end);
  for (; it->valid(); it->next()) {
    const std::string_view engine_key = it->key();
    if (engine_key.size() <= kIndexPrefixBytes)
      return Status::Corruption("index entry without a key");
    const uint64_t epoch = decode_big_endian64(engine_key.data() + 1 + 4);
    const std::string_view key = engine_key.substr(kIndexPrefixBytes);
    const std::string_view value = it->value();
    if (value.size() != kIndexValueBytes) {
      return Status::Corruption("index entry of key " + printable(key) + " has " +
                                std::to_string(value.size()) + " bytes, expected " +
                                std::to_string(kIndexValueBytes));
    }
    const Timestamp ts{decode_fixed64(value.data())};
    if (!fn(epoch, key, ts, decode_fixed64(value.data() + 8))) return Status::OK();
  }
  return it->status();
}

Status Store::scan_partition(
    uint32_t partition, std::string_view after,
    const std::function<bool(std::string_view position, std::string_view key)>& fn) {
  std::string prefix(1, kIndexKeyspace);
  put_big_endian32(&prefix, partition);
  std::string begin = prefix;
  if (!after.empty()) {
    begin.append(after);
    begin.push_back('\0');  // the smallest key after `after`
  }
  std::unique_ptr<EngineIterator> it = engine_->scan(begin, prefix_end(prefix));
  for (; it->valid(); it->next()) {
    const std::string_view position = it->key().substr(prefix.size());
    if (position.size() <= 8) return Status::Corruption("index entry without a key");
    if (!fn(position, position.substr(8))) return Status::OK();
  }
  return it->status();
}

Status Store::scan_records(
    std::string_view prefix,
    const std::function<bool(std::string_view key, const Record& record)>& fn) {
  const std::string begin = store_record_key(prefix);
  std::unique_ptr<EngineIterator> it = engine_->scan(begin, prefix_end(begin));
  Record record;
  for (; it->valid(); it->next()) {
    const std::string_view key = it->key().substr(1);
    const Status s = decode_record(it->value(), &record);
    if (!s.ok()) {
      return Status::Corruption("stored record of key " + printable(key) + ": " + s.message());
    }
    if (!fn(key, record)) return Status::OK();
  }
  return it->status();
}

Status Store::flush() {
  return engine_->flush();
}

}  // namespace chorus
