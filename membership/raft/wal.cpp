#include "membership/raft/wal.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <utility>

#include "core/coding.h"

namespace chorus::raft {

namespace {

constexpr char kSegmentMagic[8] = {'C', 'H', 'O', 'R', 'U', 'S', 'W', 'L'};
constexpr char kSnapshotMagic[8] = {'C', 'H', 'O', 'R', 'U', 'S', 'S', 'N'};
constexpr uint32_t kWalFormat = 1;
constexpr uint8_t kKindContinuation = 1;
constexpr uint8_t kKindBase = 2;
constexpr uint8_t kRecordEntry = 1;
constexpr uint8_t kRecordHardState = 2;
constexpr uint8_t kRecordBase = 3;
// u32 body_bytes + u8 type: what the header check covers.
constexpr size_t kRecordLengthAndTypeBytes = 4 + 1;
constexpr size_t kRecordHeaderBytes = kRecordLengthAndTypeBytes + 4;
constexpr size_t kSnapshotFileHeaderBytes = 8 + 4;
constexpr const char* kTmpSuffix = ".tmp";

static_assert(kWalRecordOverheadBytes == kRecordHeaderBytes + 8);

uint32_t low32(uint64_t v) {
  return static_cast<uint32_t>(v);
}

std::string hex_name(const char* prefix, uint64_t n, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%016" PRIx64 "%s", prefix, n, suffix);
  return buf;
}
std::string segment_name(uint64_t seq) {
  return hex_name("wal-", seq, ".log");
}
std::string snapshot_name(uint64_t index) {
  return hex_name("snap-", index, ".snap");
}

// Parses "<prefix><16 lowercase hex digits><suffix>" exactly; anything else is not ours.
bool parse_hex_name(const std::string& name, std::string_view prefix, std::string_view suffix,
                    uint64_t* n) {
  if (name.size() != prefix.size() + 16 + suffix.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = prefix.size(); i < prefix.size() + 16; ++i) {
    const char c = name[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(digit);
  }
  *n = v;
  return true;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string encode_segment_header(uint64_t seq, uint8_t kind) {
  std::string out(kSegmentMagic, sizeof kSegmentMagic);
  put_fixed32(&out, kWalFormat);
  put_fixed64(&out, seq);
  out.push_back(static_cast<char>(kind));
  put_fixed32(&out, low32(XXH3_64bits(out.data(), out.size())));
  return out;
}

// The header's kind, or Corruption naming `file`.
Result<uint8_t> decode_segment_header(std::string_view bytes, uint64_t seq,
                                      const std::string& file) {
  const size_t checked = kWalSegmentHeaderBytes - 4;
  if (bytes.size() < kWalSegmentHeaderBytes ||
      std::memcmp(bytes.data(), kSegmentMagic, sizeof kSegmentMagic) != 0 ||
      decode_fixed32(bytes.data() + checked) != low32(XXH3_64bits(bytes.data(), checked))) {
    return Status::Corruption("raft wal: " + file + ": missing or damaged segment header");
  }
  const uint8_t kind = static_cast<uint8_t>(bytes[checked - 1]);
  if (decode_fixed32(bytes.data() + 8) != kWalFormat || decode_fixed64(bytes.data() + 12) != seq ||
      (kind != kKindBase && kind != kKindContinuation)) {
    return Status::Corruption("raft wal: " + file + ": unknown format, kind or wrong sequence");
  }
  return kind;
}

void put_record(std::string* out, uint8_t type, std::string_view body) {
  const size_t start = out->size();
  put_fixed32(out, static_cast<uint32_t>(body.size()));
  out->push_back(static_cast<char>(type));
  put_fixed32(out, low32(XXH3_64bits(out->data() + start, kRecordLengthAndTypeBytes)));
  out->append(body.data(), body.size());
  put_fixed64(out, XXH3_64bits(out->data() + start, out->size() - start));
}

struct RecordView {
  uint8_t type = 0;
  std::string_view body;
  size_t next_offset = 0;
};

// The record starting at `offset`, if a whole one with both checks intact is there. The header
// check comes first so that scanning garbage costs a 5-byte hash per offset, not a body hash.
bool parse_record(std::string_view segment, size_t offset, RecordView* record) {
  if (segment.size() - offset < kWalRecordOverheadBytes) return false;
  const char* p = segment.data() + offset;
  if (decode_fixed32(p + kRecordLengthAndTypeBytes) !=
      low32(XXH3_64bits(p, kRecordLengthAndTypeBytes))) {
    return false;
  }
  const uint32_t body_bytes = decode_fixed32(p);
  if (body_bytes > kWalRecordBodyBytesMax ||
      segment.size() - offset - kWalRecordOverheadBytes < body_bytes) {
    return false;
  }
  const size_t checked = kRecordHeaderBytes + body_bytes;
  if (decode_fixed64(p + checked) != XXH3_64bits(p, checked)) return false;
  record->type = static_cast<uint8_t>(p[4]);
  record->body = segment.substr(offset + kRecordHeaderBytes, body_bytes);
  record->next_offset = offset + checked + 8;
  return true;
}

// The first offset after `from` where a valid record starts, or npos. A crash mid-append leaves
// only garbage or nothing after the torn record; a valid record there means damage, not a tear.
size_t find_valid_record(std::string_view segment, size_t from) {
  RecordView ignored;
  for (size_t offset = from; offset + kWalRecordOverheadBytes <= segment.size(); ++offset) {
    if (parse_record(segment, offset, &ignored)) return offset;
  }
  return std::string_view::npos;
}

std::string encode_base_body(const SnapshotMetadata& snapshot, const HardState& hs) {
  std::string out;
  put_varint64(&out, snapshot.index);
  put_varint64(&out, snapshot.term);
  put_length_prefixed(&out, encode_hard_state(hs));
  return out;
}

// The term of the entry at `index` in `s`, or the snapshot's term at its index.
uint64_t term_at(const MemoryStorage& s, uint64_t index) {
  if (index == s.snapshot().metadata.index) return s.snapshot().metadata.term;
  return s.entries()[index - s.first_index()].term;
}

// Can `entries` be appended to `s` with MemoryStorage::append semantics? Empty means yes.
std::string append_problem(const MemoryStorage& s, const std::vector<Entry>& entries) {
  if (entries.empty()) return {};
  const uint64_t first = entries.front().index;
  if (first < s.first_index() || first > s.last_index() + 1) {
    return "entry index " + std::to_string(first) + " outside [" + std::to_string(s.first_index()) +
           ", " + std::to_string(s.last_index() + 1) + "]";
  }
  uint64_t previous_term = term_at(s, first - 1);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].index != first + i) return "entries not contiguous";
    if (entries[i].term < previous_term) return "entry terms decrease";
    if (entries[i].data.size() > kEntryDataBytesMax) return "entry data over kEntryDataBytesMax";
    previous_term = entries[i].term;
  }
  return {};
}

std::string parent_dir(const std::string& dir) {
  const std::string parent = std::filesystem::path(dir).lexically_normal().parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

Wal::Wal(std::string dir, const WalOptions& options)
    : dir_(std::move(dir)),
      options_(options),
      fs_(options.fs != nullptr ? options.fs : default_file_system()) {}

Wal::~Wal() = default;

Result<std::unique_ptr<Wal>> Wal::open(const std::string& dir, const WalOptions& options) {
  if (options.segment_target_bytes == 0 ||
      options.segment_target_bytes > kWalSegmentTargetBytesMax) {
    return Status::InvalidArgument("raft wal: segment_target_bytes out of range");
  }
  std::unique_ptr<Wal> wal(new Wal(dir, options));
  CHORUS_RETURN_IF_ERROR(wal->recover());
  return Result<std::unique_ptr<Wal>>(std::move(wal));
}

Status Wal::fail(Status st) {
  if (failed_.ok()) {
    spdlog::error("raft wal: {}: {}; refusing further writes until reopened", dir_, st.to_string());
    failed_ = st;
  }
  return st;
}

Status Wal::recover() {
  CHORUS_RETURN_IF_ERROR(fs_->create_dir(dir_));
  // The directory's own entry must be durable too, or a crash could lose the whole WAL.
  CHORUS_RETURN_IF_ERROR(fs_->sync_dir(parent_dir(dir_)));
  auto lock = fs_->lock(path_of("LOCK"));
  if (!lock.ok()) return lock.status();
  lock_ = std::move(lock.value());

  std::vector<std::string> names;
  CHORUS_RETURN_IF_ERROR(fs_->list_dir(dir_, &names));
  std::vector<uint64_t> seqs;
  bool has_snapshot_file = false;
  for (const std::string& name : names) {
    uint64_t n = 0;
    if (parse_hex_name(name, "wal-", ".log", &n)) seqs.push_back(n);
    if (parse_hex_name(name, "snap-", ".snap", &n)) has_snapshot_file = true;
  }
  if (seqs.empty()) {
    // Snapshots are only written after the first segment exists, and segments are only deleted
    // once a newer one is in place: snapshots without segments mean lost files.
    if (has_snapshot_file) return Status::Corruption("raft wal: " + dir_ + ": snapshot, no WAL");
    CHORUS_RETURN_IF_ERROR(create_first_segment());
  } else {
    std::sort(seqs.begin(), seqs.end());
    CHORUS_RETURN_IF_ERROR(replay_from_newest_base(seqs));
  }
  recovery_.stale_files_removed = remove_stale_files();
  return Status::OK();
}

Status Wal::read_segment(uint64_t seq, std::string* contents) {
  const std::string name = segment_name(seq);
  Status st = fs_->read_file(path_of(name), kWalSegmentBytesMax, contents);
  if (st.code() == Status::Code::kTooLarge) {
    return Status::Corruption("raft wal: " + path_of(name) + ": larger than any segment written");
  }
  return st;
}

Status Wal::replay_from_newest_base(const std::vector<uint64_t>& seqs) {
  // Walk back from the newest segment to the newest base one: older segments are superseded.
  std::vector<std::pair<uint64_t, std::string>> live;  // newest first
  bool found_base = false;
  for (auto it = seqs.rbegin(); it != seqs.rend(); ++it) {
    if (!live.empty() && live.back().first != *it + 1) {
      return Status::Corruption("raft wal: " + path_of(segment_name(*it + 1)) + " is missing");
    }
    std::string contents;
    CHORUS_RETURN_IF_ERROR(read_segment(*it, &contents));
    auto kind = decode_segment_header(contents, *it, path_of(segment_name(*it)));
    if (!kind.ok()) return kind.status();
    live.emplace_back(*it, std::move(contents));
    found_base = *kind == kKindBase;
    if (found_base) break;
  }
  if (!found_base) {
    return Status::Corruption("raft wal: " + dir_ + ": no base segment (earlier ones lost)");
  }
  base_seq_ = live.back().first;
  for (auto it = live.rbegin(); it != live.rend(); ++it) {
    const bool last = std::next(it) == live.rend();
    CHORUS_RETURN_IF_ERROR(replay_segment(it->first, it->second, last));
    ++recovery_.segments_replayed;
  }
  return Status::OK();
}

Status Wal::replay_segment(uint64_t seq, const std::string& contents, bool last) {
  const std::string file = path_of(segment_name(seq));
  const bool base = seq == base_seq_;
  size_t offset = kWalSegmentHeaderBytes;
  uint64_t records = 0;
  while (offset < contents.size()) {
    const std::string where = file + " offset " + std::to_string(offset);
    RecordView record;
    if (!parse_record(contents, offset, &record)) {
      if (!last) return Status::Corruption("raft wal: " + where + ": bad record, not at the tail");
      const size_t later = find_valid_record(contents, offset + 1);
      if (later != std::string_view::npos) {
        return Status::Corruption("raft wal: " + where +
                                  ": bad record followed by a valid one at " +
                                  std::to_string(later));
      }
      // A base segment was complete before it was renamed into place: its base record can be
      // damaged, not torn.
      if (base && records == 0) return Status::Corruption("raft wal: " + where + ": bad base");
      CHORUS_RETURN_IF_ERROR(cut_torn_tail(seq, offset, contents.size()));
      break;
    }
    CHORUS_RETURN_IF_ERROR(apply_record(record.type, record.body, base && records == 0, where));
    ++records;
    ++recovery_.records_replayed;
    offset = record.next_offset;
  }
  if (base && records == 0) return Status::Corruption("raft wal: " + file + ": no base record");
  if (!last) return Status::OK();
  segment_records_ = records;
  return open_current_segment(seq, offset);
}

Status Wal::apply_record(uint8_t type, std::string_view body, bool first_in_base,
                         const std::string& where) {
  if (first_in_base != (type == kRecordBase)) {
    return Status::Corruption("raft wal: " + where + ": base record misplaced or missing");
  }
  if (type == kRecordBase) return apply_base_record(body, where);
  if (type == kRecordHardState) {
    auto hs = decode_hard_state(body);
    if (!hs.ok()) return Status::Corruption("raft wal: " + where + ": " + hs.status().message());
    storage_.set_hard_state(*hs);
    return Status::OK();
  }
  if (type != kRecordEntry) {
    return Status::Corruption("raft wal: " + where + ": unknown record type " +
                              std::to_string(type));
  }
  auto entry = decode_entry(body);
  if (!entry.ok()) {
    return Status::Corruption("raft wal: " + where + ": " + entry.status().message());
  }
  std::vector<Entry> one{std::move(entry.value())};
  // A later write of an index replaces it and everything after (MemoryStorage::append): replaying
  // in order is what makes the later write win.
  const std::string problem = append_problem(storage_, one);
  if (!problem.empty()) return Status::Corruption("raft wal: " + where + ": " + problem);
  storage_.append(one);
  return Status::OK();
}

Status Wal::apply_base_record(std::string_view body, const std::string& where) {
  Reader in(body);
  SnapshotMetadata base;
  std::string_view hs_bytes;
  if (!in.get_varint64(&base.index) || !in.get_varint64(&base.term) ||
      !in.get_length_prefixed(&hs_bytes, kHardStateBytesMax) || in.remaining() != 0) {
    return Status::Corruption("raft wal: " + where + ": malformed base record");
  }
  auto hs = decode_hard_state(hs_bytes);
  if (!hs.ok()) return Status::Corruption("raft wal: " + where + ": " + hs.status().message());
  storage_ = MemoryStorage();
  if (base.index > 0) {
    auto snapshot = read_snapshot_file(base.index);
    if (!snapshot.ok()) return snapshot.status();
    if (snapshot->metadata.term != base.term) {
      return Status::Corruption("raft wal: " + path_of(snapshot_name(base.index)) +
                                ": term differs from the base record at " + where);
    }
    storage_.apply_snapshot(*snapshot);
  }
  storage_.set_hard_state(*hs);
  return Status::OK();
}

Result<Snapshot> Wal::read_snapshot_file(uint64_t index) {
  const std::string file = path_of(snapshot_name(index));
  std::string contents;
  Status st = fs_->read_file(file, kWalSnapshotFileBytesMax, &contents);
  if (st.is_not_found() || st.code() == Status::Code::kTooLarge) {
    return Status::Corruption("raft wal: " + file + ": " + st.to_string());
  }
  CHORUS_RETURN_IF_ERROR(st);
  const size_t fixed = kSnapshotFileHeaderBytes + 8;
  if (contents.size() < fixed ||
      std::memcmp(contents.data(), kSnapshotMagic, sizeof kSnapshotMagic) != 0 ||
      decode_fixed32(contents.data() + 8) != kWalFormat ||
      decode_fixed64(contents.data() + contents.size() - 8) !=
          XXH3_64bits(contents.data(), contents.size() - 8)) {
    return Status::Corruption("raft wal: " + file + ": bad header or checksum");
  }
  auto snapshot = decode_snapshot(
      std::string_view(contents).substr(kSnapshotFileHeaderBytes, contents.size() - fixed));
  if (!snapshot.ok()) {
    return Status::Corruption("raft wal: " + file + ": " + snapshot.status().message());
  }
  if (snapshot->metadata.index != index) {
    return Status::Corruption("raft wal: " + file + ": holds index " +
                              std::to_string(snapshot->metadata.index));
  }
  return snapshot;
}

Status Wal::cut_torn_tail(uint64_t seq, uint64_t offset, uint64_t size_bytes) {
  const std::string name = segment_name(seq);
  spdlog::warn(
      "raft wal: {}: torn tail at offset {}: dropping {} bytes (a write cut short by a "
      "crash; never acknowledged)",
      path_of(name), offset, size_bytes - offset);
  recovery_.torn_tail = true;
  recovery_.torn_tail_file = name;
  recovery_.torn_tail_offset = offset;
  recovery_.torn_tail_bytes = size_bytes - offset;
  // open_current_segment syncs the file, which makes the new size durable.
  return fs_->truncate(path_of(name), offset);
}

Status Wal::open_current_segment(uint64_t seq, uint64_t size_bytes) {
  auto file = fs_->open_writable(path_of(segment_name(seq)), /*truncate=*/false);
  if (!file.ok()) return file.status();
  CHORUS_RETURN_IF_ERROR((*file)->sync());
  segment_ = std::move(file.value());
  segment_seq_ = seq;
  segment_bytes_ = size_bytes;
  return Status::OK();
}

Status Wal::create_first_segment() {
  uint64_t size_bytes = 0;
  CHORUS_RETURN_IF_ERROR(write_new_segment(1, &storage_, &size_bytes));
  CHORUS_RETURN_IF_ERROR(fs_->sync_dir(dir_));
  base_seq_ = 1;
  segment_records_ = 1;
  return open_current_segment(1, size_bytes);
}

// Writes a whole segment under a temporary name, syncs it and renames it into place; the caller
// syncs the directory. `base` set: a base segment restarting the log from that state.
Status Wal::write_new_segment(uint64_t seq, const MemoryStorage* base, uint64_t* size_bytes) {
  const std::string path = path_of(segment_name(seq));
  const std::string tmp = path + kTmpSuffix;
  auto opened = fs_->open_writable(tmp, /*truncate=*/true);
  if (!opened.ok()) return opened.status();
  WritableFile& file = *opened.value();
  std::string buffer = encode_segment_header(seq, base ? kKindBase : kKindContinuation);
  uint64_t written = 0;
  Status st;
  auto drain = [&](size_t threshold) {
    if (!st.ok() || buffer.size() < threshold) return;
    st = file.append(buffer);
    written += buffer.size();
    buffer.clear();
  };
  if (base != nullptr) {
    put_record(&buffer, kRecordBase,
               encode_base_body(base->snapshot().metadata, base->hard_state()));
    for (const Entry& e : base->entries()) {
      if (!st.ok()) break;
      auto body = encode_entry(e);  // cannot fail: append_problem checked every stored entry
      if (!body.ok()) st = body.status();
      if (st.ok()) put_record(&buffer, kRecordEntry, *body);
      drain(kWalWriteChunkBytes);
    }
  }
  drain(0);
  if (st.ok()) st = file.sync();
  if (st.ok()) st = file.close();
  if (st.ok()) st = fs_->rename(tmp, path);
  if (!st.ok()) {
    Status removed = fs_->remove(tmp);
    if (!removed.ok()) spdlog::warn("raft wal: cleanup: {}", removed.to_string());
    return st;
  }
  *size_bytes = written;
  return Status::OK();
}

Status Wal::write_snapshot_file(const Snapshot& snapshot) {
  auto encoded = encode_snapshot(snapshot);
  if (!encoded.ok()) return encoded.status();
  std::string contents(kSnapshotMagic, sizeof kSnapshotMagic);
  put_fixed32(&contents, kWalFormat);
  contents += *encoded;
  put_fixed64(&contents, XXH3_64bits(contents.data(), contents.size()));

  const std::string path = path_of(snapshot_name(snapshot.metadata.index));
  const std::string tmp = path + kTmpSuffix;
  auto opened = fs_->open_writable(tmp, /*truncate=*/true);
  if (!opened.ok()) return opened.status();
  Status st = (*opened)->append(contents);
  if (st.ok()) st = (*opened)->sync();
  if (st.ok()) st = (*opened)->close();
  if (st.ok()) st = fs_->rename(tmp, path);
  if (!st.ok()) {
    Status removed = fs_->remove(tmp);
    if (!removed.ok()) spdlog::warn("raft wal: cleanup: {}", removed.to_string());
    return st;
  }
  return fs_->sync_dir(dir_);
}

Status Wal::save(const std::optional<HardState>& hard_state, const std::vector<Entry>& entries) {
  if (!failed_.ok()) return failed_;
  const std::string problem = append_problem(storage_, entries);
  if (!problem.empty()) return Status::InvalidArgument("raft wal: save: " + problem);
  if (!hard_state && entries.empty()) return Status::OK();
  // Entries before the hard state: a crash between them can only lose the hard state, and a
  // commit index is then never ahead of the entries it points at.
  for (const Entry& e : entries) {
    auto body = encode_entry(e);
    if (!body.ok()) return fail(body.status());  // unreachable: append_problem checked sizes
    Status st = append_record(kRecordEntry, *body);
    if (!st.ok()) return fail(st);
  }
  if (hard_state) {
    Status st = append_record(kRecordHardState, encode_hard_state(*hard_state));
    if (!st.ok()) return fail(st);
  }
  Status st = flush_pending();
  if (st.ok()) st = segment_->sync();
  if (!st.ok()) return fail(st);
  storage_.append(entries);
  if (hard_state) storage_.set_hard_state(*hard_state);
  return Status::OK();
}

Status Wal::append_record(uint8_t type, std::string_view body) {
  const uint64_t record_bytes = kWalRecordOverheadBytes + body.size();
  if (segment_records_ > 0 && segment_bytes_ + record_bytes > options_.segment_target_bytes) {
    CHORUS_RETURN_IF_ERROR(rotate());
  }
  put_record(&pending_, type, body);
  segment_bytes_ += record_bytes;
  ++segment_records_;
  if (pending_.size() >= kWalWriteChunkBytes) return flush_pending();
  return Status::OK();
}

Status Wal::flush_pending() {
  if (pending_.empty()) return Status::OK();
  Status st = segment_->append(pending_);
  pending_.clear();
  return st;
}

// Seals the current segment (everything in it durable: only the last segment may hold a torn
// tail) and continues in a new one.
Status Wal::rotate() {
  CHORUS_RETURN_IF_ERROR(flush_pending());
  CHORUS_RETURN_IF_ERROR(segment_->sync());
  CHORUS_RETURN_IF_ERROR(segment_->close());
  uint64_t size_bytes = 0;
  CHORUS_RETURN_IF_ERROR(write_new_segment(segment_seq_ + 1, nullptr, &size_bytes));
  CHORUS_RETURN_IF_ERROR(fs_->sync_dir(dir_));
  segment_records_ = 0;
  return open_current_segment(segment_seq_ + 1, size_bytes);
}

Status Wal::save_snapshot(const Snapshot& snapshot) {
  if (!failed_.ok()) return failed_;
  if (snapshot.metadata.index <= storage_.snapshot().metadata.index) return Status::OK();
  // Failures up to the new segment's rename leave the current segment as it was: not sticky.
  CHORUS_RETURN_IF_ERROR(write_snapshot_file(snapshot));
  MemoryStorage next = storage_;
  next.apply_snapshot(snapshot);
  const uint64_t seq = segment_seq_ + 1;
  uint64_t size_bytes = 0;
  CHORUS_RETURN_IF_ERROR(write_new_segment(seq, &next, &size_bytes));
  // From here the new segment may or may not survive a crash until the directory is synced.
  Status st = fs_->sync_dir(dir_);
  if (st.ok()) st = segment_->close();
  if (st.ok()) st = open_current_segment(seq, size_bytes);
  if (!st.ok()) return fail(st);
  segment_records_ = 1 + next.entries().size();
  base_seq_ = seq;
  storage_ = std::move(next);
  const uint64_t removed = remove_stale_files();
  spdlog::debug("raft wal: {}: snapshot at index {}; removed {} superseded files", dir_,
                snapshot.metadata.index, removed);
  return Status::OK();
}

Status Wal::save_ready(const Ready& ready) {
  if (ready.snapshot) CHORUS_RETURN_IF_ERROR(save_snapshot(*ready.snapshot));
  return save(ready.hard_state, ready.entries);
}

// Deletes what the newest base segment supersedes: older segments, other snapshots and
// temporaries. Best effort: whatever stays is retried by the next call or the next open.
uint64_t Wal::remove_stale_files() {
  std::vector<std::string> names;
  Status st = fs_->list_dir(dir_, &names);
  if (!st.ok()) {
    spdlog::warn("raft wal: cleanup: {}", st.to_string());
    return 0;
  }
  uint64_t removed = 0;
  for (const std::string& name : names) {
    uint64_t n = 0;
    const bool stale =
        (parse_hex_name(name, "wal-", ".log", &n) && n < base_seq_) ||
        (parse_hex_name(name, "snap-", ".snap", &n) && n != storage_.snapshot().metadata.index) ||
        ends_with(name, kTmpSuffix);
    if (!stale) continue;
    st = fs_->remove(path_of(name));
    if (st.ok()) {
      ++removed;
    } else {
      spdlog::warn("raft wal: cleanup: {}", st.to_string());
    }
  }
  if (removed == 0) return 0;
  st = fs_->sync_dir(dir_);
  if (!st.ok()) spdlog::warn("raft wal: cleanup: {}", st.to_string());
  return removed;
}

}  // namespace chorus::raft
