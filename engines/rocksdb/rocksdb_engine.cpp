#include "engines/rocksdb/rocksdb_engine.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <cstdio>
#include <exception>
#include <utility>

namespace chorus {
namespace {

// Bloom filters let a get() for an absent key skip most table files; 10 bits/key is ~1% false hits.
constexpr int kBloomBitsPerKey = 10;

rocksdb::Slice to_slice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}
std::string_view to_view(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

Status from_rocksdb(const rocksdb::Status& s) {
  if (s.ok()) return Status::OK();
  const std::string message = "rocksdb: " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(message);
  if (s.IsCorruption()) return Status::Corruption(message);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(message);
  return Status::IOError(message);  // IOError and every other engine code
}

rocksdb::ReadOptions verified_read_options() {
  rocksdb::ReadOptions read_options;
  read_options.verify_checksums = true;  // the default, stated because Corruption depends on it
  return read_options;
}

// Close() reports errors that the destructor would hide. A destructor has no caller to return them
// to, so they go to stderr rather than nowhere.
struct CloseDb {
  void operator()(rocksdb::DB* db) const {
    const rocksdb::Status s = db->Close();
    if (!s.ok()) std::fprintf(stderr, "chorus: closing rocksdb failed: %s\n", s.ToString().c_str());
    delete db;
  }
};

// Holds a reference to the database so it outlives the iterator even if the engine is destroyed
// first. Without an explicit snapshot a RocksDB iterator reads the state as of its creation.
class RocksDbIterator final : public EngineIterator {
 public:
  RocksDbIterator(std::shared_ptr<rocksdb::DB> db, std::string_view begin, std::string_view end)
      : db_(std::move(db)), end_(end), upper_bound_(to_slice(end_)) {
    rocksdb::ReadOptions read_options = verified_read_options();
    if (!end_.empty()) read_options.iterate_upper_bound = &upper_bound_;
    it_.reset(db_->NewIterator(read_options));
    it_->Seek(to_slice(begin));
  }
  bool valid() const override { return it_->Valid(); }
  void next() override { it_->Next(); }
  std::string_view key() const override { return to_view(it_->key()); }
  std::string_view value() const override { return to_view(it_->value()); }
  Status status() const override { return from_rocksdb(it_->status()); }

 private:
  // Declaration order matters: it_ is destroyed first, while the bound and the database still live.
  std::shared_ptr<rocksdb::DB> db_;
  std::string end_;
  rocksdb::Slice upper_bound_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class RocksDbEngine final : public Engine {
 public:
  explicit RocksDbEngine(std::shared_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

  Status get(std::string_view key, std::string* value) override {
    return from_rocksdb(db_->Get(verified_read_options(), to_slice(key), value));
  }

  Status write(const WriteBatch& batch, bool sync) override {
    if (batch.empty()) return Status::OK();
    rocksdb::WriteBatch rocks_batch;
    for (const WriteBatch::Op& op : batch.ops()) {
      const rocksdb::Status s = op.is_delete
                                    ? rocks_batch.Delete(to_slice(op.key))
                                    : rocks_batch.Put(to_slice(op.key), to_slice(op.value));
      CHORUS_RETURN_IF_ERROR(from_rocksdb(s));
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = sync;
    return from_rocksdb(db_->Write(write_options, &rocks_batch));
  }

  std::unique_ptr<EngineIterator> scan(std::string_view begin, std::string_view end) override {
    return std::make_unique<RocksDbIterator>(db_, begin, end);
  }

  Status flush() override {
    rocksdb::FlushOptions flush_options;
    flush_options.wait = true;
    return from_rocksdb(db_->Flush(flush_options));
  }

  Status resume() override { return from_rocksdb(db_->Resume()); }

  EngineKind kind() const override { return EngineKind::kRocksDB; }

 private:
  std::shared_ptr<rocksdb::DB> db_;
};

rocksdb::Options make_options(const EngineOptions& options) {
  rocksdb::Options rocks_options;
  rocks_options.create_if_missing = true;
  rocks_options.paranoid_checks = true;
  rocks_options.write_buffer_size = options.write_buffer_bytes;
  rocksdb::BlockBasedTableOptions table_options;
  if (options.block_cache_bytes > 0) {
    table_options.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  } else {
    table_options.no_block_cache = true;
  }
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(kBloomBitsPerKey));
  rocks_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  return rocks_options;
}

}  // namespace

Result<std::unique_ptr<Engine>> open_rocksdb_engine(const std::string& path,
                                                    const EngineOptions& options) {
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  try {
    s = rocksdb::DB::Open(make_options(options), path, &raw);
  } catch (const std::exception& e) {  // e.g. bad_alloc; exceptions never cross the module edge
    return Status::IOError("rocksdb open " + path + ": " + e.what());
  }
  if (!s.ok()) return from_rocksdb(s);
  std::shared_ptr<rocksdb::DB> db(raw, CloseDb{});
  return std::unique_ptr<Engine>(std::make_unique<RocksDbEngine>(std::move(db)));
}

}  // namespace chorus
