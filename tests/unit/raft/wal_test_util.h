// Helpers for the WAL tests: a temporary directory removed on destruction, a FileSystem that
// injects failures into the real one, and small builders for entries and snapshots.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "membership/raft/file_system.h"
#include "membership/raft/messages.h"
#include "tests/unit/temp_dir.h"

namespace chorus::raft::test {

// A temporary directory (tests/unit/temp_dir.h) with a place for the WAL inside.
class TempDir : public chorus::test::TempDir {
 public:
  TempDir() : chorus::test::TempDir("chorus-raft-wal") {}
  // The WAL's own directory inside (open() must create it).
  std::string wal() const { return path() + "/raft"; }
};

inline std::string payload(uint64_t index, size_t pad_bytes = 16) {
  return "entry-" + std::to_string(index) +
         std::string(pad_bytes, static_cast<char>('a' + index % 26));
}

// Entries lo..hi (inclusive) at `term`.
inline std::vector<Entry> entries(uint64_t lo, uint64_t hi, uint64_t term, size_t pad_bytes = 16) {
  std::vector<Entry> out;
  for (uint64_t i = lo; i <= hi; ++i) out.push_back(Entry{term, i, payload(i, pad_bytes)});
  return out;
}

inline Snapshot snapshot_at(uint64_t index, uint64_t term) {
  Snapshot s;
  s.metadata.index = index;
  s.metadata.term = term;
  s.metadata.conf.voters = {1, 2, 3};
  s.metadata.conf.learners = {7};
  s.data = "state-through-" + std::to_string(index);
  return s;
}

inline std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline uint64_t disk_bytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) total += e.file_size();
  return total;
}

// The segment files (wal-*.log) in `dir`, oldest first.
inline std::vector<std::string> segments_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& name : files_in(dir)) {
    if (name.rfind("wal-", 0) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, ".log") == 0) {
      out.push_back(dir + "/" + name);
    }
  }
  return out;
}

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

inline void flip_byte(const std::string& path, uint64_t offset) {
  std::string bytes = read_all(path);
  REQUIRE(offset < bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
  write_all(path, bytes);
}

// The real file system with failures injected on demand (LevelDB's fault-injection idea).
// Countdowns: -1 never fails; n >= 0 lets n calls through, then fails that call and every later
// one. A torn append writes the first half of its buffer before failing, as a crash would.
class FaultyFileSystem final : public FileSystem {
 public:
  int syncs_until_failure = -1;
  int appends_until_torn = -1;
  int renames_until_failure = -1;
  int sync_failures = 0;  // how many were injected

  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                      bool truncate) override {
    auto file = base_->open_writable(path, truncate);
    if (!file.ok()) return file.status();
    return std::unique_ptr<WritableFile>(new File(this, std::move(file.value())));
  }
  Status read_file(const std::string& path, size_t max_bytes, std::string* contents) override {
    return base_->read_file(path, max_bytes, contents);
  }
  Status list_dir(const std::string& dir, std::vector<std::string>* names) override {
    return base_->list_dir(dir, names);
  }
  Status create_dir(const std::string& dir) override { return base_->create_dir(dir); }
  Status rename(const std::string& from, const std::string& to) override {
    if (countdown(&renames_until_failure)) return Status::IOError("injected rename failure");
    return base_->rename(from, to);
  }
  Status remove(const std::string& path) override { return base_->remove(path); }
  Status truncate(const std::string& path, uint64_t size_bytes) override {
    return base_->truncate(path, size_bytes);
  }
  Status sync_dir(const std::string& dir) override { return base_->sync_dir(dir); }
  Result<std::unique_ptr<FileLock>> lock(const std::string& path) override {
    return base_->lock(path);
  }

 private:
  // True when this call must fail.
  static bool countdown(int* remaining) {
    if (*remaining < 0) return false;
    if (*remaining == 0) return true;
    --*remaining;
    return false;
  }

  class File final : public WritableFile {
   public:
    File(FaultyFileSystem* fs, std::unique_ptr<WritableFile> base)
        : fs_(fs), base_(std::move(base)) {}
    Status append(std::string_view data) override {
      if (countdown(&fs_->appends_until_torn)) {
        Status st = base_->append(data.substr(0, data.size() / 2));
        if (!st.ok()) return st;
        return Status::IOError("injected torn append");
      }
      return base_->append(data);
    }
    Status sync() override {
      if (countdown(&fs_->syncs_until_failure)) {
        ++fs_->sync_failures;
        return Status::IOError("injected fdatasync failure");
      }
      return base_->sync();
    }
    Status close() override { return base_->close(); }

   private:
    FaultyFileSystem* fs_;
    std::unique_ptr<WritableFile> base_;
  };

  FileSystem* base_ = default_file_system();
};

}  // namespace chorus::raft::test
