#include "engines/engine.h"

#include <filesystem>
#include <system_error>

#include "engines/leveldb/leveldb_engine.h"
#include "engines/memory/memory_engine.h"
#include "engines/rocksdb/rocksdb_engine.h"
#include "engines/space_guard.h"

namespace chorus {

Result<EngineKind> parse_engine_kind(std::string_view name) {
  if (name == "rocksdb") return EngineKind::kRocksDB;
  if (name == "leveldb") return EngineKind::kLevelDB;
  if (name == "memory") return EngineKind::kMemory;
  return Status::InvalidArgument("unknown engine '" + std::string(name) +
                                 "' (expected rocksdb, leveldb or memory)");
}

const char* engine_kind_name(EngineKind kind) {
  switch (kind) {
    case EngineKind::kRocksDB:
      return "rocksdb";
    case EngineKind::kLevelDB:
      return "leveldb";
    case EngineKind::kMemory:
      return "memory";
  }
  return "unknown";
}

void WriteBatch::put(std::string_view key, std::string_view value) {
  ops_.push_back(Op{false, std::string(key), std::string(value)});
  bytes_ += key.size() + value.size();
}

void WriteBatch::del(std::string_view key) {
  ops_.push_back(Op{true, std::string(key), std::string()});
  bytes_ += key.size();
}

namespace {

Status check_options(const EngineOptions& options) {
  if (options.write_buffer_bytes < kWriteBufferBytesMin ||
      options.write_buffer_bytes > kWriteBufferBytesMax) {
    return Status::InvalidArgument(
        "write_buffer_bytes " + std::to_string(options.write_buffer_bytes) + " outside [" +
        std::to_string(kWriteBufferBytesMin) + ", " + std::to_string(kWriteBufferBytesMax) + "]");
  }
  if (options.block_cache_bytes > kBlockCacheBytesMax) {
    return Status::InvalidArgument("block_cache_bytes " +
                                   std::to_string(options.block_cache_bytes) + " above " +
                                   std::to_string(kBlockCacheBytesMax));
  }
  return Status::OK();
}

// Both libraries create only the last path component; a data directory like /var/lib/chorus/db
// should work on a fresh machine.
Status create_directories(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("engine path is empty");
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::IOError("cannot create directory " + path + ": " + ec.message());
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Engine>> open_engine(EngineKind kind, const std::string& path,
                                            const EngineOptions& options) {
  CHORUS_RETURN_IF_ERROR(check_options(options));
  if (kind == EngineKind::kMemory) return make_memory_engine();
  CHORUS_RETURN_IF_ERROR(create_directories(path));
  Result<std::unique_ptr<Engine>> engine = Status::InvalidArgument("unknown engine kind");
  if (kind == EngineKind::kRocksDB) engine = open_rocksdb_engine(path, options);
  if (kind == EngineKind::kLevelDB) engine = open_leveldb_engine(path, options);
  if (!engine.ok()) return engine.status();
  return std::unique_ptr<Engine>(
      std::make_unique<SpaceGuardedEngine>(std::move(*engine), path, options.disk_reserve_bytes));
}

}  // namespace chorus
