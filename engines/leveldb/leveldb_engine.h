// The LevelDB Engine. Internal to chorus_engines: callers use open_engine().
//
// Reads verify block checksums and the database opens with paranoid checks, so damaged table files
// surface as Corruption. Thread-safe as LevelDB itself; iterators read an implicit snapshot.
#pragma once

#include <memory>
#include <string>

#include "engines/engine.h"

namespace chorus {

// Opens (creating if missing) a LevelDB database in directory `path`. Errors as open_engine().
Result<std::unique_ptr<Engine>> open_leveldb_engine(const std::string& path,
                                                    const EngineOptions& options);

}  // namespace chorus
