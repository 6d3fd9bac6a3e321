// The same Engine suite against memory, rocksdb and leveldb; disk-only behaviour (persistence,
// on-disk corruption) against rocksdb and leveldb.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engines/engine.h"
#include "tests/unit/engines/engine_test_util.h"

namespace chorus {
namespace {

using test::TestEngine;
using Entries = std::vector<std::pair<std::string, std::string>>;

Status put(Engine& engine, std::string_view key, std::string_view value, bool sync = false) {
  WriteBatch batch;
  batch.put(key, value);
  return engine.write(batch, sync);
}

Status del(Engine& engine, std::string_view key) {
  WriteBatch batch;
  batch.del(key);
  return engine.write(batch, false);
}

// The value of `key`, or "<code name>" when get() fails.
std::string get_or_status(Engine& engine, std::string_view key) {
  std::string value;
  const Status s = engine.get(key, &value);
  return s.ok() ? value : std::string("<") + Status::code_name(s.code()) + ">";
}

Entries drain(EngineIterator& it) {
  Entries out;
  for (; it.valid(); it.next()) out.emplace_back(std::string(it.key()), std::string(it.value()));
  INFO(it.status().to_string());
  REQUIRE(it.status().ok());
  return out;
}

Entries collect(Engine& engine, std::string_view begin, std::string_view end) {
  return drain(*engine.scan(begin, end));
}

EngineKind any_kind() {
  return GENERATE(EngineKind::kMemory, EngineKind::kRocksDB, EngineKind::kLevelDB);
}

EngineKind disk_kind() {
  return GENERATE(EngineKind::kRocksDB, EngineKind::kLevelDB);
}

TEST_CASE("engine kinds parse and print") {
  for (EngineKind kind : {EngineKind::kRocksDB, EngineKind::kLevelDB, EngineKind::kMemory}) {
    auto parsed = parse_engine_kind(engine_kind_name(kind));
    REQUIRE(parsed.ok());
    CHECK(*parsed == kind);
  }
  CHECK(std::string(engine_kind_name(EngineKind::kRocksDB)) == "rocksdb");
  CHECK(parse_engine_kind("RocksDB").status().code() == Status::Code::kInvalidArgument);
  CHECK(parse_engine_kind("").status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("open_engine rejects bad arguments") {
  EngineOptions tiny_buffer;
  tiny_buffer.write_buffer_bytes = kWriteBufferBytesMin - 1;
  CHECK(open_engine(EngineKind::kMemory, "", tiny_buffer).status().code() ==
        Status::Code::kInvalidArgument);
  EngineOptions huge_cache;
  huge_cache.block_cache_bytes = kBlockCacheBytesMax + 1;
  CHECK(open_engine(EngineKind::kMemory, "", huge_cache).status().code() ==
        Status::Code::kInvalidArgument);
  CHECK(open_engine(disk_kind(), "").status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("open_engine creates missing parent directories") {
  const EngineKind kind = disk_kind();
  test::TempDir dir;
  auto opened = open_engine(kind, dir.path() + "/a/b/db", test::small_test_options());
  INFO(opened.status().to_string());
  REQUIRE(opened.ok());
  CHECK((*opened)->kind() == kind);
  REQUIRE(put(**opened, "k", "v").ok());
  CHECK(get_or_status(**opened, "k") == "v");
}

TEST_CASE("write_batch counts ops and payload bytes") {
  WriteBatch batch;
  CHECK(batch.empty());
  batch.put("key", "value");
  batch.del("gone");
  CHECK_FALSE(batch.empty());
  CHECK(batch.count() == 2);
  CHECK(batch.bytes() == 3 + 5 + 4);
  REQUIRE(batch.ops().size() == 2);
  CHECK_FALSE(batch.ops()[0].is_delete);
  CHECK(batch.ops()[1].is_delete);
  CHECK(batch.ops()[1].key == "gone");
}

TEST_CASE("engine get put overwrite and delete") {
  TestEngine engine(any_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  std::string value = "untouched";
  CHECK(engine->get("a", &value).is_not_found());

  REQUIRE(put(*engine, "a", "1").ok());
  CHECK(get_or_status(*engine, "a") == "1");
  REQUIRE(put(*engine, "a", "2").ok());
  CHECK(get_or_status(*engine, "a") == "2");

  const std::string binary_key("k\0ey\xff", 5);
  const std::string binary_value("\0\1\2", 3);
  REQUIRE(put(*engine, binary_key, binary_value).ok());
  CHECK(get_or_status(*engine, binary_key) == binary_value);
  CHECK(get_or_status(*engine, "k") == "<NotFound>");

  REQUIRE(del(*engine, "a").ok());
  CHECK(get_or_status(*engine, "a") == "<NotFound>");
  CHECK(del(*engine, "never-there").ok());
  CHECK(engine->write(WriteBatch(), true).ok());
}

TEST_CASE("engine batch applies every op in order") {
  TestEngine engine(any_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  REQUIRE(put(*engine, "old", "x").ok());
  WriteBatch batch;
  batch.put("a", "1");
  batch.put("b", "1");
  batch.put("a", "2");  // later op on the same key wins
  batch.del("old");
  batch.put("c", "1");
  batch.del("c");
  REQUIRE(engine->write(batch, false).ok());
  CHECK(collect(*engine, "", "") == Entries{{"a", "2"}, {"b", "1"}});
}

TEST_CASE("engine batches are atomic to concurrent readers") {
  TestEngine engine(any_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  constexpr int kBatches = 300;
  constexpr int kKeys = 8;
  std::atomic<bool> writer_done{false};
  std::atomic<int> write_errors{0};
  std::thread writer([&] {
    for (int i = 1; i <= kBatches; ++i) {
      WriteBatch batch;
      for (int k = 0; k < kKeys; ++k) batch.put("key" + std::to_string(k), std::to_string(i));
      if (!engine->write(batch, false).ok()) write_errors++;
    }
    writer_done = true;
  });
  // Every snapshot must hold all keys from one batch: none, or all eight with the same value.
  int scans = 0, torn = 0, last_seen = 0, went_back = 0;
  while (!writer_done.load() || scans == 0) {
    const Entries entries = collect(*engine, "key", "");
    ++scans;
    if (entries.empty()) {
      torn += last_seen > 0;  // keys are never deleted once written
      continue;
    }
    if (entries.size() != kKeys) ++torn;
    for (const auto& [key, value] : entries) torn += value != entries.front().second;
    const int seen = std::stoi(entries.front().second);
    went_back += seen < last_seen;
    last_seen = seen;
  }
  writer.join();
  CHECK(write_errors == 0);
  CHECK(torn == 0);
  CHECK(went_back == 0);
  CHECK(collect(*engine, "key", "").front().second == std::to_string(kBatches));
}

TEST_CASE("engine scan is ordered and stops before the end key") {
  TestEngine engine(any_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  std::vector<std::string> keys = {
      "b", "a", "ab", "c", "ba", std::string("\xff\x01", 2), "d", std::string("b\0", 2)};
  for (const std::string& key : keys) REQUIRE(put(*engine, key, "v" + key).ok());
  std::sort(keys.begin(), keys.end());

  const Entries all = collect(*engine, "", "");
  REQUIRE(all.size() == keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    CHECK(all[i].first == keys[i]);
    CHECK(all[i].second == "v" + keys[i]);
  }
  auto keys_of = [](const Entries& entries) {
    std::vector<std::string> out;
    for (const auto& entry : entries) out.push_back(entry.first);
    return out;
  };
  using Keys = std::vector<std::string>;
  CHECK(keys_of(collect(*engine, "b", "c")) == Keys{"b", std::string("b\0", 2), "ba"});
  CHECK(keys_of(collect(*engine, "ab", "b")) == Keys{"ab"});
  CHECK(keys_of(collect(*engine, "bb", "")) == Keys{"c", "d", std::string("\xff\x01", 2)});
  CHECK(keys_of(collect(*engine, "", "ab")) == Keys{"a"});
  CHECK(collect(*engine, "e", "f").empty());
  CHECK(collect(*engine, "c", "c").empty());
  CHECK(collect(*engine, "d", "b").empty());
  CHECK(collect(*engine, std::string("\xff\x02", 2), "").empty());
}

TEST_CASE("engine scan reads a snapshot taken when it was created") {
  TestEngine engine(any_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  REQUIRE(put(*engine, "a", "1").ok());
  REQUIRE(put(*engine, "c", "1").ok());
  REQUIRE(put(*engine, "e", "1").ok());
  std::unique_ptr<EngineIterator> it = engine->scan("", "");
  REQUIRE(put(*engine, "b", "new").ok());  // inserted before the next position
  REQUIRE(put(*engine, "c", "2").ok());
  REQUIRE(del(*engine, "e").ok());
  REQUIRE(put(*engine, "f", "new").ok());
  CHECK(drain(*it) == Entries{{"a", "1"}, {"c", "1"}, {"e", "1"}});
  CHECK(collect(*engine, "", "") == Entries{{"a", "1"}, {"b", "new"}, {"c", "2"}, {"f", "new"}});
}

TEST_CASE("disk engine data survives close and reopen") {
  TestEngine engine(disk_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  REQUIRE(put(*engine, "flushed", "1").ok());
  REQUIRE(put(*engine, "deleted", "1").ok());
  REQUIRE(engine->flush().ok());
  REQUIRE(del(*engine, "deleted").ok());
  REQUIRE(put(*engine, "in-wal", "2").ok());
  REQUIRE(put(*engine, "synced", "3", /*sync=*/true).ok());
  engine.reopen();
  CHECK(collect(*engine, "", "") == Entries{{"flushed", "1"}, {"in-wal", "2"}, {"synced", "3"}});
  CHECK(get_or_status(*engine, "deleted") == "<NotFound>");
  engine.reopen();  // a second reopen replays what the first one recovered
  CHECK(get_or_status(*engine, "synced") == "3");
}

TEST_CASE("sync writes are readable and durable across reopen") {
  TestEngine engine(any_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  for (int i = 0; i < 20; ++i) {
    WriteBatch batch;
    batch.put("k" + std::to_string(i), std::to_string(i));
    REQUIRE(engine->write(batch, /*sync=*/true).ok());
  }
  CHECK(collect(*engine, "", "").size() == 20);
  CHECK(engine->flush().ok());
  if (engine->kind() == EngineKind::kMemory) return;
  engine.reopen();
  CHECK(collect(*engine, "", "").size() == 20);
  CHECK(get_or_status(*engine, "k7") == "7");
}

std::vector<std::filesystem::path> table_files(const std::string& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string ext = entry.path().extension().string();
    if (ext == ".sst" || ext == ".ldb") out.push_back(entry.path());
  }
  return out;
}

// Inverts every 256th byte in the middle half of the file, where the data blocks are (the index,
// filter and footer sit at the end, so the database still opens and the damage shows on reads).
size_t corrupt_middle(const std::filesystem::path& file) {
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    REQUIRE((in.good() || in.eof()));
  }
  size_t flipped = 0;
  for (size_t i = bytes.size() / 4; i < bytes.size() * 3 / 4; i += 256, ++flipped) {
    bytes[i] = static_cast<char>(~static_cast<unsigned char>(bytes[i]));
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  REQUIRE(out.good());
  return flipped;
}

TEST_CASE("disk engine reports damaged table files as Corruption") {
  TestEngine engine(disk_kind());
  CAPTURE(engine_kind_name(engine->kind()));
  constexpr int kKeys = 64;
  constexpr size_t kValueBytes = 16 << 10;  // random, so compression cannot shrink the data region
  std::mt19937_64 rng(7);
  std::map<std::string, std::string> expected;
  for (int i = 0; i < kKeys; ++i) {
    std::string value(kValueBytes, '\0');
    for (char& c : value) c = static_cast<char>(rng());
    char key[16];
    std::snprintf(key, sizeof key, "key%03d", i);
    expected[key] = value;
    REQUIRE(put(*engine, key, value).ok());
  }
  REQUIRE(engine->flush().ok());
  engine.close();
  const auto tables = table_files(engine.db_path());
  REQUIRE_FALSE(tables.empty());
  size_t flipped = 0;
  for (const auto& table : tables) flipped += corrupt_middle(table);
  REQUIRE(flipped > 1000);

  engine.reopen();
  int corrupt = 0;
  for (const auto& [key, value] : expected) {
    std::string read;
    const Status s = engine->get(key, &read);
    INFO(key << ": " << s.to_string());
    if (s.ok()) {
      CHECK(read == value);  // an undamaged block must still read back exactly
    } else {
      CHECK(s.is_corruption());
      ++corrupt;
    }
  }
  CHECK(corrupt > kKeys / 4);

  std::unique_ptr<EngineIterator> it = engine->scan("", "");
  int scanned = 0;
  for (; it->valid(); it->next()) {
    CHECK(expected.at(std::string(it->key())) == it->value());
    ++scanned;
  }
  CHECK(scanned < kKeys);
  CHECK(it->status().is_corruption());
}

}  // namespace
}  // namespace chorus
