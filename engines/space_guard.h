// SpaceGuardedEngine: the Engine every on-disk engine is opened behind (open_engine()). It keeps
// two promises the libraries do not:
//   - A full disk is a clean, retryable write error, never a crash or a write half-done: writes
//     are refused while the file system has fewer than EngineOptions::disk_reserve_bytes free
//     (checked with statvfs before every write, about a microsecond), so the engine itself does not
//     meet ENOSPC in normal operation.
//   - After a write fails (ENOSPC despite the reserve, EIO), later writes are refused without
//     reaching the engine until Engine::resume() succeeds, tried at most every
//     kEngineResumeIntervalMs and only once the reserve is free again. RocksDB 7.x aborts on an
//     assertion when a write reaches a WAL writer that already failed (fixed upstream in 9.x,
//     facebook/rocksdb#12448; Debian builds keep assertions), and otherwise stays read-only until
//     Resume(). Best effort: writes already past the check when the first one fails (Store
//     writes run concurrently) still reach the engine; the reserve is what keeps that from
//     happening in practice.
//   - The reserve refuses every write, deletes and tombstone collection included (they write
//     too): space is freed by the operator, not by the node.
// Reads, scans and flushes pass straight through.
//
// Thread-safety: as the wrapped engine; the failure latch is an atomic flag plus a mutex taken
// only while latched.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "engines/engine.h"

namespace chorus {

class SpaceGuardedEngine final : public Engine {
 public:
  SpaceGuardedEngine(std::unique_ptr<Engine> inner, std::string path, uint64_t reserve_bytes);

  Status get(std::string_view key, std::string* value) override { return inner_->get(key, value); }
  Status write(const WriteBatch& batch, bool sync) override;
  std::unique_ptr<EngineIterator> scan(std::string_view begin, std::string_view end) override {
    return inner_->scan(begin, end);
  }
  Status flush() override { return inner_->flush(); }
  Status resume() override { return inner_->resume(); }
  EngineKind kind() const override { return inner_->kind(); }

 private:
  // OK, or why the write is refused before reaching the engine.
  Status check_before_write();
  // OK while the disk has the reserve free (always with a reserve of 0).
  Status check_space() const;

  const std::unique_ptr<Engine> inner_;
  const std::string path_;
  const uint64_t reserve_bytes_;
  std::atomic<bool> failed_{false};
  std::mutex mu_;  // guards the two below, and resume attempts
  Status failure_;
  std::chrono::steady_clock::time_point last_resume_;
};

}  // namespace chorus
