// Engine: the ordered key-value storage interface under Store, with RocksDB (default), LevelDB and
// in-memory (tests only) implementations.
//
// An Engine maps byte-string keys to byte-string values in bytewise key order. It offers point
// reads, atomic write batches, ordered iteration over a consistent snapshot of a key range, and a
// flush of the in-memory write buffer to table files. It knows nothing about records or keyspaces:
// Store (engines/store.h) builds those on top.
//
// Thread-safety: an Engine is safe for concurrent get/write/scan/flush from any number of threads.
// An EngineIterator belongs to one thread at a time and must be destroyed before its Engine.
//
// Ownership: open_engine() returns the sole owner of the engine; destroying it closes the database
// (buffered unsynced writes stay recoverable from the WAL on the next open).
//
// Errors: every operation returns a Status. Disk engines verify block checksums on every read, so
// damaged data on disk surfaces as Corruption, never as a silent miss (NotFound) or as wrong bytes.
// Engine errors map to NotFound, Corruption, IOError and InvalidArgument; any other engine status
// becomes IOError carrying the engine's message.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace chorus {

enum class EngineKind { kRocksDB, kLevelDB, kMemory };

// "rocksdb" | "leveldb" | "memory"; InvalidArgument otherwise.
Result<EngineKind> parse_engine_kind(std::string_view name);
// The name parse_engine_kind() accepts for `kind`.
const char* engine_kind_name(EngineKind kind);

// An atomic group of puts and deletes, applied in order by Engine::write (a later op on the same
// key wins). A plain value: not thread-safe, copyable.
class WriteBatch {
 public:
  struct Op {
    bool is_delete;
    std::string key;
    std::string value;  // empty for deletes
  };

  void put(std::string_view key, std::string_view value);
  void del(std::string_view key);
  bool empty() const { return ops_.empty(); }
  size_t count() const { return ops_.size(); }
  // Payload bytes: the sum of every op's key and value sizes.
  size_t bytes() const { return bytes_; }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

// Ordered iteration over a consistent snapshot of [begin, end), taken when Engine::scan() was
// called: writes made after that are not seen. key() and value() are valid until the next call to
// next().
class EngineIterator {
 public:
  virtual ~EngineIterator() = default;
  virtual bool valid() const = 0;
  virtual void next() = 0;
  virtual std::string_view key() const = 0;    // valid() only
  virtual std::string_view value() const = 0;  // valid() only
  // Non-OK when iteration stopped on an error (e.g. Corruption); OK when it ran off the range's
  // end.
  virtual Status status() const = 0;
};

// Bounds on EngineOptions, checked by open_engine(). A write buffer below the minimum turns every
// few writes into a table flush; above the maximum a restart replays a huge WAL.
constexpr size_t kWriteBufferBytesMin = 64 << 10;
constexpr size_t kWriteBufferBytesMax = size_t{1} << 30;
constexpr size_t kBlockCacheBytesMax = size_t{64} << 30;
static_assert(kWriteBufferBytesMin < kWriteBufferBytesMax);

// After a write failed, how long writes are refused before the engine is asked to resume.
constexpr int kEngineResumeIntervalMs = 1000;

struct EngineOptions {
  size_t block_cache_bytes = 64 << 20;   // 0..kBlockCacheBytesMax
  size_t write_buffer_bytes = 32 << 20;  // kWriteBufferBytesMin..kWriteBufferBytesMax
  // Writes are refused (IOError "disk full") while the file system holding the engine has fewer
  // free bytes than this, so the engine never meets ENOSPC itself and whatever else shares the
  // disk (the Raft log) keeps room. 0: no check.
  uint64_t disk_reserve_bytes = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // On success fills *value. NotFound if absent; Corruption/IOError from the engine. On error
  // *value is unspecified.
  virtual Status get(std::string_view key, std::string* value) = 0;
  // All-or-nothing; sync=true fsyncs the WAL before returning. An empty batch is a no-op.
  virtual Status write(const WriteBatch& batch, bool sync) = 0;
  // [begin, end); empty end means "to the end of the keyspace". Never null; errors (including one
  // hit while positioning) are reported by the iterator's status().
  virtual std::unique_ptr<EngineIterator> scan(std::string_view begin, std::string_view end) = 0;
  // Memtable to table files, waiting until done (no-op for memory). IOError/Corruption on failure.
  virtual Status flush() = 0;
  // After a failed write: clears the engine's error state if the cause is gone (RocksDB's
  // Resume()). OK when writes may be tried again; the error otherwise (LevelDB's is sticky until
  // the engine is reopened).
  virtual Status resume() { return Status::OK(); }
  virtual EngineKind kind() const = 0;
};

// Opens (creating if missing, including parent directories) the engine at `path` (ignored for
// kMemory). IOError/Corruption/InvalidArgument on failure (InvalidArgument also for an empty path
// or options outside their bounds).
Result<std::unique_ptr<Engine>> open_engine(EngineKind kind, const std::string& path,
                                            const EngineOptions& options = {});

}  // namespace chorus
