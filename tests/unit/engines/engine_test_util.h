// Helpers shared by the engines tests: a temporary directory removed on destruction, and an engine
// of a given kind opened in it that can be closed and reopened.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "engines/engine.h"
#include "tests/unit/temp_dir.h"

namespace chorus::test {

inline EngineOptions small_test_options() {
  EngineOptions options;
  options.block_cache_bytes = 8 << 20;
  options.write_buffer_bytes = 4 << 20;
  return options;
}

// An engine in its own temporary directory (the directory is unused for kMemory).
class TestEngine {
 public:
  explicit TestEngine(EngineKind kind) : kind_(kind) { reopen(); }
  Engine& operator*() { return *engine_; }
  Engine* operator->() { return engine_.get(); }
  std::unique_ptr<Engine> release() { return std::move(engine_); }
  void close() { engine_.reset(); }
  void reopen() {
    engine_.reset();
    auto opened = open_engine(kind_, db_path(), small_test_options());
    INFO(opened.status().to_string());
    REQUIRE(opened.ok());
    engine_ = std::move(opened).value();
  }
  std::string db_path() const { return dir_.path() + "/db"; }

 private:
  EngineKind kind_;
  TempDir dir_{"chorus-engines"};
  std::unique_ptr<Engine> engine_;
};

}  // namespace chorus::test
