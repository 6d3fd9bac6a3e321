#include "engines/leveldb/leveldb_engine.h"

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include <exception>
#include <utility>

namespace chorus {
namespace {

// Bloom filters let a get() for an absent key skip most table files; 10 bits/key is ~1% false hits.
constexpr int kBloomBitsPerKey = 10;

leveldb::Slice to_slice(std::string_view s) {
  return leveldb::Slice(s.data(), s.size());
}
std::string_view to_view(const leveldb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

Status from_leveldb(const leveldb::Status& s) {
  if (s.ok()) return Status::OK();
  const std::string message = "leveldb: " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(message);
  if (s.IsCorruption()) return Status::Corruption(message);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(message);
  return Status::IOError(message);  // IOError and every other engine code
}

leveldb::ReadOptions verified_read_options() {
  leveldb::ReadOptions read_options;
  read_options.verify_checksums = true;  // off by default in LevelDB
  return read_options;
}

// LevelDB takes raw pointers to its cache and filter policy and requires them to outlive the
// database; this owns all three and destroys the database first.
struct LevelDbHandle {
  std::unique_ptr<leveldb::Cache> cache;
  std::unique_ptr<const leveldb::FilterPolicy> filter;
  std::unique_ptr<leveldb::DB> db;
  ~LevelDbHandle() { db.reset(); }
};

// Holds a reference to the database so it outlives the iterator even if the engine is destroyed
// first. Without an explicit snapshot a LevelDB iterator reads the state as of its creation.
class LevelDbIterator final : public EngineIterator {
 public:
  LevelDbIterator(std::shared_ptr<LevelDbHandle> handle, std::string_view begin,
                  std::string_view end)
      : handle_(std::move(handle)), end_(end) {
    it_.reset(handle_->db->NewIterator(verified_read_options()));
    it_->Seek(to_slice(begin));
  }
  // LevelDB has no upper bound option; the range end is checked here (bytewise, as the comparator).
  bool valid() const override {
    return it_->Valid() && (end_.empty() || to_view(it_->key()) < std::string_view(end_));
  }
  void next() override { it_->Next(); }
  std::string_view key() const override { return to_view(it_->key()); }
  std::string_view value() const override { return to_view(it_->value()); }
  Status status() const override { return from_leveldb(it_->status()); }

 private:
  std::shared_ptr<LevelDbHandle> handle_;  // destroyed after it_
  std::string end_;
  std::unique_ptr<leveldb::Iterator> it_;
};

class LevelDbEngine final : public Engine {
 public:
  explicit LevelDbEngine(std::shared_ptr<LevelDbHandle> handle) : handle_(std::move(handle)) {}

  Status get(std::string_view key, std::string* value) override {
    return from_leveldb(handle_->db->Get(verified_read_options(), to_slice(key), value));
  }

  Status write(const WriteBatch& batch, bool sync) override {
    if (batch.empty()) return Status::OK();
    leveldb::WriteBatch level_batch;
    for (const WriteBatch::Op& op : batch.ops()) {
      if (op.is_delete) {
        level_batch.Delete(to_slice(op.key));
      } else {
        level_batch.Put(to_slice(op.key), to_slice(op.value));
      }
    }
    leveldb::WriteOptions write_options;
    write_options.sync = sync;
    return from_leveldb(handle_->db->Write(write_options, &level_batch));
  }

  std::unique_ptr<EngineIterator> scan(std::string_view begin, std::string_view end) override {
    return std::make_unique<LevelDbIterator>(handle_, begin, end);
  }

  // LevelDB has no Flush(). CompactRange() always writes the memtable to a table first and then
  // compacts only files overlapping the range; an empty range ["", ""] keeps that second step
  // trivial. CompactRange() returns nothing, but a failed memtable write is recorded as LevelDB's
  // background error, which the next Write() returns: an empty batch probes it.
  Status flush() override {
    const leveldb::Slice empty;
    handle_->db->CompactRange(&empty, &empty);
    leveldb::WriteBatch probe;
    return from_leveldb(handle_->db->Write(leveldb::WriteOptions(), &probe));
  }

  // LevelDB keeps a background write error until the database is reopened.
  Status resume() override {
    return Status::IOError("LevelDB cannot resume after a write error: restart the node");
  }

  EngineKind kind() const override { return EngineKind::kLevelDB; }

 private:
  std::shared_ptr<LevelDbHandle> handle_;
};

}  // namespace

Result<std::unique_ptr<Engine>> open_leveldb_engine(const std::string& path,
                                                    const EngineOptions& options) {
  auto handle = std::make_shared<LevelDbHandle>();
  // Capacity 0 turns caching off (LevelDB would otherwise substitute its own 8 MiB cache).
  handle->cache.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  handle->filter.reset(leveldb::NewBloomFilterPolicy(kBloomBitsPerKey));
  leveldb::Options level_options;
  level_options.create_if_missing = true;
  level_options.paranoid_checks = true;
  level_options.write_buffer_size = options.write_buffer_bytes;
  level_options.block_cache = handle->cache.get();
  level_options.filter_policy = handle->filter.get();
  leveldb::DB* raw = nullptr;
  leveldb::Status s;
  try {
    s = leveldb::DB::Open(level_options, path, &raw);
  } catch (const std::exception& e) {  // e.g. bad_alloc; exceptions never cross the module edge
    return Status::IOError("leveldb open " + path + ": " + e.what());
  }
  if (!s.ok()) return from_leveldb(s);
  handle->db.reset(raw);
  return std::unique_ptr<Engine>(std::make_unique<LevelDbEngine>(std::move(handle)));
}

}  // namespace chorus
