// The Raft WAL: round trips through reopen, overwrite-suffix replay, torn tails, corruption,
// snapshots with bounded disk use, leftovers of interrupted operations, and injected I/O failures.
#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "membership/raft/wal.h"
#include "wal_test_util.h"

using namespace chorus;
using namespace chorus::raft;
using namespace chorus::raft::test;

namespace {

std::unique_ptr<Wal> must_open(const std::string& dir, const WalOptions& options = {}) {
  auto wal = Wal::open(dir, options);
  INFO(wal.status().to_string());
  REQUIRE(wal.ok());
  return std::move(wal.value());
}

WalOptions small_segments(uint64_t bytes = 1024, FileSystem* fs = nullptr) {
  WalOptions options;
  options.segment_target_bytes = bytes;
  options.fs = fs;
  return options;
}

void must_save(Wal& wal, std::optional<HardState> hs, const std::vector<Entry>& batch) {
  Status st = wal.save(hs, batch);
  INFO(st.to_string());
  REQUIRE(st.ok());
}

void require_same(const MemoryStorage& a, const MemoryStorage& b) {
  REQUIRE(a.hard_state() == b.hard_state());
  REQUIRE(a.snapshot() == b.snapshot());
  REQUIRE(a.entries() == b.entries());
}

std::vector<Entry> concat(std::vector<Entry> a, const std::vector<Entry>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

uint64_t size_of(const std::string& path) {
  return std::filesystem::file_size(path);
}

// A one-segment WAL holding entries 1..5 saved one per record. Returns the last segment's path
// and the offset where each record starts (offsets[i] is entry i+1; offsets[5] = file size).
std::string five_single_records(const std::string& dir, std::vector<uint64_t>* offsets) {
  auto wal = must_open(dir);
  const std::string segment = segments_in(dir).back();
  offsets->push_back(size_of(segment));
  for (uint64_t i = 1; i <= 5; ++i) {
    must_save(*wal, std::nullopt, entries(i, i, 1));
    offsets->push_back(size_of(segment));
  }
  return segment;
}

}  // namespace

TEST_CASE("wal creates an empty log in a new directory and reopens it") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal());
    REQUIRE(wal->storage().entries().empty());
    REQUIRE(wal->storage().snapshot().empty());
    REQUIRE(wal->storage().hard_state() == HardState{});
    REQUIRE(files_in(tmp.wal()) == std::vector<std::string>{"LOCK", "wal-0000000000000001.log"});
  }
  auto wal = must_open(tmp.wal());
  REQUIRE(wal->storage().entries().empty());
  REQUIRE_FALSE(wal->recovery().torn_tail);
  REQUIRE(wal->recovery().segments_replayed == 1);
}

TEST_CASE("wal save then reopen returns the hard state and every entry") {
  TempDir tmp;
  MemoryStorage expected;
  {
    auto wal = must_open(tmp.wal());
    must_save(*wal, HardState{1, 1, 0}, entries(1, 3, 1));
    must_save(*wal, std::nullopt, entries(4, 10, 1));
    must_save(*wal, HardState{2, 0, 7}, {});
    must_save(*wal, HardState{2, 2, 9}, entries(11, 12, 2));
    expected = wal->storage();
    REQUIRE(expected.last_index() == 12);
    REQUIRE(expected.hard_state() == HardState{2, 2, 9});
  }
  auto wal = must_open(tmp.wal());
  require_same(wal->storage(), expected);
  REQUIRE(wal->recovery().records_replayed == 1 + 12 + 3);
}

TEST_CASE("wal replays overwritten suffixes so the later write wins across segments") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal(), small_segments(512));
    must_save(*wal, HardState{1, 1, 5}, entries(1, 20, 1));
    must_save(*wal, HardState{2, 2, 5}, entries(15, 17, 2));
    REQUIRE(wal->storage().last_index() == 17);
    must_save(*wal, std::nullopt, entries(18, 19, 2));
    must_save(*wal, HardState{3, 3, 9}, entries(10, 12, 3, /*pad_bytes=*/3));
  }
  REQUIRE(segments_in(tmp.wal()).size() > 2);
  auto wal = must_open(tmp.wal(), small_segments(512));
  REQUIRE(wal->storage().entries() == concat(entries(1, 9, 1), entries(10, 12, 3, 3)));
  REQUIRE(wal->storage().hard_state() == HardState{3, 3, 9});
}

TEST_CASE("wal rejects saves that leave a gap or break term order or reach into the snapshot") {
  TempDir tmp;
  auto wal = must_open(tmp.wal());
  must_save(*wal, std::nullopt, entries(1, 5, 2));
  const auto code = [&](std::vector<Entry> batch) { return wal->save(std::nullopt, batch).code(); };
  REQUIRE(code(entries(7, 8, 2)) == Status::Code::kInvalidArgument);
  REQUIRE(code({Entry{2, 6, ""}, Entry{2, 8, ""}}) == Status::Code::kInvalidArgument);
  REQUIRE(code({Entry{1, 6, ""}}) == Status::Code::kInvalidArgument);  // term below entry 5's
  REQUIRE(code({Entry{2, 6, std::string(kEntryDataBytesMax + 1, 'x')}}) ==
          Status::Code::kInvalidArgument);
  REQUIRE(wal->save_snapshot(snapshot_at(3, 2)).ok());
  REQUIRE(code(entries(3, 6, 2)) == Status::Code::kInvalidArgument);
  // Refusals changed nothing and left the WAL usable.
  must_save(*wal, std::nullopt, entries(4, 6, 2));
  const MemoryStorage expected = wal->storage();
  wal.reset();
  require_same(must_open(tmp.wal())->storage(), expected);
}

TEST_CASE("wal drops a last record cut short and appends cleanly after it") {
  std::vector<uint64_t> probe;
  {
    TempDir tmp;
    five_single_records(tmp.wal(), &probe);
  }
  const uint64_t start = probe[4];
  const uint64_t end = probe[5];
  for (uint64_t cut : {start + 1, start + 9, (start + end) / 2, end - 1}) {
    INFO("cut at " << cut << " in the record [" << start << ", " << end << ")");
    TempDir tmp;
    std::vector<uint64_t> offsets;
    const std::string segment = five_single_records(tmp.wal(), &offsets);
    REQUIRE(offsets == probe);
    std::filesystem::resize_file(segment, cut);
    {
      auto wal = must_open(tmp.wal());
      REQUIRE(wal->recovery().torn_tail);
      REQUIRE(wal->recovery().torn_tail_offset == start);
      REQUIRE(wal->recovery().torn_tail_bytes == cut - start);
      REQUIRE(wal->storage().entries() == entries(1, 4, 1));
      REQUIRE(size_of(segment) == start);
      must_save(*wal, HardState{2, 1, 4}, concat({Entry{2, 5, "rewritten"}}, entries(6, 6, 2)));
    }
    auto wal = must_open(tmp.wal());
    REQUIRE_FALSE(wal->recovery().torn_tail);
    REQUIRE(wal->storage().entries() ==
            concat(entries(1, 4, 1), concat({Entry{2, 5, "rewritten"}}, entries(6, 6, 2))));
    REQUIRE(wal->storage().hard_state() == HardState{2, 1, 4});
  }
}

TEST_CASE("wal drops a last record with a flipped byte and appends cleanly after it") {
  std::vector<uint64_t> probe;
  {
    TempDir tmp;
    five_single_records(tmp.wal(), &probe);
  }
  const uint64_t start = probe[4];
  const uint64_t end = probe[5];
  // Length, type, header check, body, trailing checksum.
  for (uint64_t at : {start, start + 4, start + 5, start + 12, end - 1}) {
    INFO("flip at " << at << " in the record [" << start << ", " << end << ")");
    TempDir tmp;
    std::vector<uint64_t> offsets;
    const std::string segment = five_single_records(tmp.wal(), &offsets);
    flip_byte(segment, at);
    {
      auto wal = must_open(tmp.wal());
      REQUIRE(wal->recovery().torn_tail);
      REQUIRE(wal->recovery().torn_tail_offset == start);
      REQUIRE(wal->recovery().torn_tail_bytes == end - start);
      REQUIRE(wal->storage().entries() == entries(1, 4, 1));
      must_save(*wal, std::nullopt, entries(5, 7, 1));
    }
    auto wal = must_open(tmp.wal());
    REQUIRE_FALSE(wal->recovery().torn_tail);
    REQUIRE(wal->storage().entries() == entries(1, 7, 1));
  }
}

TEST_CASE(
    "wal reports a damaged record followed by valid ones as Corruption with file and offset") {
  for (int damaged : {0, 1, 3}) {  // entry 1, 2 and 4 of 5
    INFO("damaged record " << damaged);
    TempDir tmp;
    std::vector<uint64_t> offsets;
    const std::string segment = five_single_records(tmp.wal(), &offsets);
    flip_byte(segment, offsets[damaged] + 12);
    auto wal = Wal::open(tmp.wal());
    REQUIRE(wal.status().is_corruption());
    const std::string& message = wal.status().message();
    INFO(message);
    REQUIRE(message.find("wal-0000000000000001.log") != std::string::npos);
    REQUIRE(message.find("offset " + std::to_string(offsets[damaged])) != std::string::npos);
  }
}

TEST_CASE("wal reports a zeroed stretch in the middle of the last segment as Corruption") {
  TempDir tmp;
  std::vector<uint64_t> offsets;
  const std::string segment = five_single_records(tmp.wal(), &offsets);
  std::string bytes = read_all(segment);
  std::fill(bytes.begin() + static_cast<ptrdiff_t>(offsets[1]),
            bytes.begin() + static_cast<ptrdiff_t>(offsets[3]), '\0');
  write_all(segment, bytes);
  REQUIRE(Wal::open(tmp.wal()).status().is_corruption());
}

TEST_CASE("wal reports damage at the end of a sealed segment as Corruption") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal(), small_segments(512));
    for (uint64_t i = 1; i <= 40; ++i) must_save(*wal, HardState{1, 1, i - 1}, entries(i, i, 1));
  }
  const auto segments = segments_in(tmp.wal());
  REQUIRE(segments.size() >= 3);
  std::filesystem::resize_file(segments.front(), size_of(segments.front()) - 3);
  auto wal = Wal::open(tmp.wal(), small_segments(512));
  REQUIRE(wal.status().is_corruption());
  REQUIRE(wal.status().message().find(segments.front()) != std::string::npos);
}

TEST_CASE("wal reports a missing segment as Corruption") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal(), small_segments(512));
    for (uint64_t i = 1; i <= 40; ++i) must_save(*wal, std::nullopt, entries(i, i, 1));
  }
  const auto segments = segments_in(tmp.wal());
  REQUIRE(segments.size() >= 3);
  std::filesystem::remove(segments[1]);
  auto wal = Wal::open(tmp.wal(), small_segments(512));
  REQUIRE(wal.status().is_corruption());
  REQUIRE(wal.status().message().find("missing") != std::string::npos);
}

TEST_CASE("wal keeps the newest snapshot and the entries after it across reopen") {
  TempDir tmp;
  MemoryStorage expected;
  {
    auto wal = must_open(tmp.wal());
    must_save(*wal, HardState{1, 1, 18}, entries(1, 20, 1));
    REQUIRE(wal->save_snapshot(snapshot_at(15, 1)).ok());
    REQUIRE(wal->storage().snapshot() == snapshot_at(15, 1));
    REQUIRE(wal->storage().entries() == entries(16, 20, 1));
    REQUIRE(wal->storage().hard_state() == HardState{1, 1, 18});
    REQUIRE(files_in(tmp.wal()) == std::vector<std::string>{"LOCK", "snap-000000000000000f.snap",
                                                            "wal-0000000000000002.log"});
    // Not newer than what is stored: ignored, as MemoryStorage::apply_snapshot does.
    REQUIRE(wal->save_snapshot(snapshot_at(12, 1)).ok());
    REQUIRE(wal->storage().snapshot() == snapshot_at(15, 1));
    expected = wal->storage();
  }
  {
    auto wal = must_open(tmp.wal());
    require_same(wal->storage(), expected);
    must_save(*wal, HardState{1, 1, 21}, entries(21, 22, 1));
  }
  auto wal = must_open(tmp.wal());
  REQUIRE(wal->storage().entries() == entries(16, 22, 1));
  REQUIRE(wal->storage().first_index() == 16);
  REQUIRE(wal->storage().hard_state() == HardState{1, 1, 21});
}

TEST_CASE("wal installs a conflicting leader snapshot by replacing the whole log") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal());
    must_save(*wal, HardState{1, 0, 3}, entries(1, 10, 1));
    REQUIRE(wal->save_snapshot(snapshot_at(8, 2)).ok());  // our entry 8 has term 1: conflict
    REQUIRE(wal->storage().entries().empty());
    REQUIRE(wal->storage().last_index() == 8);
  }
  auto wal = must_open(tmp.wal());
  REQUIRE(wal->storage().snapshot() == snapshot_at(8, 2));
  REQUIRE(wal->storage().entries().empty());
  must_save(*wal, HardState{2, 0, 9}, entries(9, 9, 2));
  REQUIRE(wal->storage().last_index() == 9);
}

TEST_CASE("wal disk use stays bounded over many compactions") {
  TempDir tmp;
  const WalOptions options = small_segments(8 * 1024);
  uint64_t written_bytes = 0;
  uint64_t peak_disk_bytes = 0;
  uint64_t last = 0;
  {
    auto wal = must_open(tmp.wal(), options);
    for (int round = 0; round < 300; ++round) {
      const auto batch = entries(last + 1, last + 10, 1, /*pad_bytes=*/200);
      must_save(*wal, HardState{1, 1, last + 10}, batch);
      last += 10;
      written_bytes += 10 * 230;
      if (round % 3 == 2) REQUIRE(wal->save_snapshot(snapshot_at(last - 5, 1)).ok());
      peak_disk_bytes = std::max(peak_disk_bytes, disk_bytes(tmp.wal()));
      REQUIRE(files_in(tmp.wal()).size() <= 8);
    }
  }
  INFO("peak " << peak_disk_bytes << " bytes after writing " << written_bytes);
  // Three rounds between compactions is ~7 KiB of records, plus one snapshot file.
  REQUIRE(peak_disk_bytes < 32 * 1024);
  REQUIRE(written_bytes > 20 * peak_disk_bytes);
  auto wal = must_open(tmp.wal(), options);
  REQUIRE(wal->storage().snapshot() == snapshot_at(last - 5, 1));
  REQUIRE(wal->storage().entries() == entries(last - 4, last, 1, 200));
}

TEST_CASE("wal reports a damaged or missing snapshot file as Corruption") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal());
    must_save(*wal, HardState{1, 1, 5}, entries(1, 5, 1));
    REQUIRE(wal->save_snapshot(snapshot_at(4, 1)).ok());
  }
  const std::string snap = tmp.wal() + "/snap-0000000000000004.snap";
  const std::string original = read_all(snap);
  for (uint64_t at : {uint64_t{0}, uint64_t{12}, original.size() / 2, original.size() - 1}) {
    INFO("flip at " << at);
    flip_byte(snap, at);
    auto wal = Wal::open(tmp.wal());
    REQUIRE(wal.status().is_corruption());
    REQUIRE(wal.status().message().find(snap) != std::string::npos);
    write_all(snap, original);
  }
  write_all(snap, original.substr(0, original.size() - 1));
  REQUIRE(Wal::open(tmp.wal()).status().is_corruption());
  std::filesystem::remove(snap);
  REQUIRE(Wal::open(tmp.wal()).status().is_corruption());
  write_all(snap, original);
  REQUIRE(must_open(tmp.wal())->storage().snapshot() == snapshot_at(4, 1));
}

TEST_CASE("wal removes leftovers of interrupted writes and cleanups on open") {
  TempDir tmp;
  MemoryStorage expected;
  {
    auto wal = must_open(tmp.wal());
    must_save(*wal, HardState{1, 1, 5}, entries(1, 6, 1));
    REQUIRE(wal->save_snapshot(snapshot_at(5, 1)).ok());  // base is now segment 2
    expected = wal->storage();
  }
  // A superseded segment (never read, so its contents do not matter), a snapshot written but
  // never named by a base segment, and temporaries from writes cut short.
  write_all(tmp.wal() + "/wal-0000000000000001.log", "old");
  write_all(tmp.wal() + "/snap-0000000000000009.snap", "orphan");
  write_all(tmp.wal() + "/snap-0000000000000009.snap.tmp", "half");
  write_all(tmp.wal() + "/wal-0000000000000003.log.tmp", "half");
  auto wal = must_open(tmp.wal());
  require_same(wal->storage(), expected);
  REQUIRE(wal->recovery().stale_files_removed == 4);
  REQUIRE(files_in(tmp.wal()) == std::vector<std::string>{"LOCK", "snap-0000000000000005.snap",
                                                          "wal-0000000000000002.log"});
}

TEST_CASE("wal refuses snapshots without segments and a second open of the same directory") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal());
    auto second = Wal::open(tmp.wal());
    REQUIRE(second.status().code() == Status::Code::kIOError);
  }
  REQUIRE(Wal::open(tmp.wal()).ok());  // the lock went with the first Wal

  TempDir lost;
  std::filesystem::create_directories(lost.wal());
  write_all(lost.wal() + "/snap-0000000000000004.snap", "x");
  REQUIRE(Wal::open(lost.wal()).status().is_corruption());
}

TEST_CASE("wal failed sync is sticky and reopening recovers what was acknowledged") {
  TempDir tmp;
  FaultyFileSystem fs;
  {
    auto wal = must_open(tmp.wal(), small_segments(1024, &fs));
    fs.syncs_until_failure = 2;
    must_save(*wal, HardState{1, 1, 0}, entries(1, 2, 1));
    must_save(*wal, HardState{1, 1, 2}, entries(3, 4, 1));
    REQUIRE(wal->save(HardState{1, 1, 4}, entries(5, 6, 1)).code() == Status::Code::kIOError);
    REQUIRE(fs.sync_failures == 1);
    fs.syncs_until_failure = -1;  // the disk is fine again, but the WAL must not trust it
    REQUIRE(wal->save(std::nullopt, entries(5, 6, 1)).code() == Status::Code::kIOError);
    REQUIRE(wal->save_snapshot(snapshot_at(2, 1)).code() == Status::Code::kIOError);
    REQUIRE(wal->storage().last_index() == 4);
  }
  auto wal = must_open(tmp.wal());
  // The failed save's bytes may or may not have reached the disk; the acknowledged ones did.
  const auto& recovered = wal->storage().entries();
  REQUIRE(recovered.size() >= 4);
  REQUIRE(std::vector<Entry>(recovered.begin(), recovered.begin() + 4) == entries(1, 4, 1));
}

TEST_CASE("wal torn append is sticky and reopening drops the torn record") {
  TempDir tmp;
  FaultyFileSystem fs;
  {
    auto wal = must_open(tmp.wal(), small_segments(1 << 20, &fs));
    fs.appends_until_torn = 3;
    for (uint64_t i = 1; i <= 3; ++i) must_save(*wal, std::nullopt, entries(i, i, 1));
    REQUIRE(wal->save(std::nullopt, entries(4, 4, 1)).code() == Status::Code::kIOError);
    fs.appends_until_torn = -1;
    REQUIRE(wal->save(std::nullopt, entries(4, 4, 1)).code() == Status::Code::kIOError);
  }
  {
    auto wal = must_open(tmp.wal());
    REQUIRE(wal->recovery().torn_tail);
    REQUIRE(wal->storage().entries() == entries(1, 3, 1));
    must_save(*wal, std::nullopt, entries(4, 5, 1));
  }
  REQUIRE(must_open(tmp.wal())->storage().entries() == entries(1, 5, 1));
}

TEST_CASE("wal failed snapshot write leaves the log usable") {
  TempDir tmp;
  FaultyFileSystem fs;
  {
    auto wal = must_open(tmp.wal(), small_segments(1024, &fs));
    must_save(*wal, HardState{1, 1, 8}, entries(1, 10, 1));
    fs.renames_until_failure = 0;  // the snapshot file's rename fails
    REQUIRE(wal->save_snapshot(snapshot_at(8, 1)).code() == Status::Code::kIOError);
    fs.renames_until_failure = 1;  // the snapshot lands, the new base segment's rename fails
    REQUIRE(wal->save_snapshot(snapshot_at(8, 1)).code() == Status::Code::kIOError);
    fs.renames_until_failure = -1;
    REQUIRE(wal->storage().snapshot().empty());
    must_save(*wal, HardState{1, 1, 11}, entries(11, 12, 1));
  }
  auto wal = must_open(tmp.wal());
  REQUIRE(wal->storage().snapshot().empty());
  REQUIRE(wal->storage().entries() == entries(1, 12, 1));
  REQUIRE(wal->recovery().stale_files_removed == 1);  // the orphaned snapshot
  REQUIRE(files_in(tmp.wal()) == std::vector<std::string>{"LOCK", "wal-0000000000000001.log"});
}

TEST_CASE("wal save_ready persists a snapshot before the entries after it") {
  TempDir tmp;
  {
    auto wal = must_open(tmp.wal());
    must_save(*wal, HardState{1, 1, 2}, entries(1, 3, 1));
    Ready ready;
    ready.snapshot = snapshot_at(10, 3);
    ready.hard_state = HardState{3, 0, 10};
    ready.entries = entries(11, 12, 3);
    REQUIRE(wal->save_ready(ready).ok());
  }
  auto wal = must_open(tmp.wal());
  REQUIRE(wal->storage().snapshot() == snapshot_at(10, 3));
  REQUIRE(wal->storage().entries() == entries(11, 12, 3));
  REQUIRE(wal->storage().hard_state() == HardState{3, 0, 10});
}
