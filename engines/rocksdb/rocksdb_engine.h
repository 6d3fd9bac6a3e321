// The RocksDB Engine (the default). Internal to chorus_engines: callers use open_engine().
//
// Reads verify block checksums and the database opens with paranoid checks, so damaged table files
// surface as Corruption. Thread-safe as RocksDB itself; iterators read an implicit snapshot.
#pragma once

#include <memory>
#include <string>

#include "engines/engine.h"

namespace chorus {

// Opens (creating if missing) a RocksDB database in directory `path`. Errors as open_engine().
Result<std::unique_ptr<Engine>> open_rocksdb_engine(const std::string& path,
                                                    const EngineOptions& options);

}  // namespace chorus
