// The in-memory Engine, for tests only: a std::map under one mutex, nothing survives destruction,
// sync and flush are no-ops. A scan copies its range under the lock, which is its snapshot; that
// costs O(range) per scan, fine for test-sized data and never used in production.
#pragma once

#include <memory>

#include "engines/engine.h"

namespace chorus {

std::unique_ptr<Engine> make_memory_engine();

}  // namespace chorus
