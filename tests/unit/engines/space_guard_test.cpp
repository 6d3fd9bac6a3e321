// SpaceGuardedEngine: the free-space reserve refuses writes before the engine meets ENOSPC, and a
// failed write latches further writes off the engine until resume() succeeds.
#include "engines/space_guard.h"

#include <catch2/catch.hpp>
#include <chrono>

#include "engines/memory/memory_engine.h"
#include "tests/unit/io_test_util.h"
#include "tests/unit/temp_dir.h"

namespace chorus {
namespace {

// An engine whose writes fail while `failing` is set, counting what reaches it.
class FlakyEngine final : public Engine {
 public:
  explicit FlakyEngine(bool* failing, int* writes, int* resumes, bool* resume_ok)
      : inner_(make_memory_engine()),
        failing_(failing),
        writes_(writes),
        resumes_(resumes),
        resume_ok_(resume_ok) {}
  Status get(std::string_view key, std::string* value) override { return inner_->get(key, value); }
  Status write(const WriteBatch& batch, bool sync) override {
    ++*writes_;
    if (*failing_) return Status::IOError("No space left on device");
    return inner_->write(batch, sync);
  }
  std::unique_ptr<EngineIterator> scan(std::string_view b, std::string_view e) override {
    return inner_->scan(b, e);
  }
  Status flush() override { return Status::OK(); }
  Status resume() override {
    ++*resumes_;
    return *resume_ok_ ? Status::OK() : Status::IOError("still no space");
  }
  EngineKind kind() const override { return EngineKind::kMemory; }

 private:
  std::unique_ptr<Engine> inner_;
  bool* failing_;
  int* writes_;
  int* resumes_;
  bool* resume_ok_;
};

Status put(Engine& engine, const std::string& key) {
  WriteBatch batch;
  batch.put(key, "v");
  return engine.write(batch, false);
}

TEST_CASE("space guard: writes are refused below the free-space reserve, allowed above it") {
  test::TempDir dir;
  SpaceGuardedEngine roomy(make_memory_engine(), dir.path(), 1);
  CHECK(put(roomy, "k").ok());
  // No file system has an exabyte free: the reserve is never met.
  SpaceGuardedEngine full(make_memory_engine(), dir.path(), uint64_t{1} << 60);
  const Status refused = put(full, "k");
  CHECK(refused.code() == Status::Code::kIOError);
  CHECK(refused.message().find("disk full") != std::string::npos);
  std::string value;
  CHECK(full.get("k", &value).is_not_found());  // nothing half-written
}

TEST_CASE("space guard: after a failed write, writes stay off the engine until resume works") {
  bool failing = true, resume_ok = false;
  int writes = 0, resumes = 0;
  test::TempDir dir;
  SpaceGuardedEngine engine(std::make_unique<FlakyEngine>(&failing, &writes, &resumes, &resume_ok),
                            dir.path(), 0);
  CHECK(!put(engine, "a").ok());
  CHECK(writes == 1);
  // Latched: refused without reaching the engine (RocksDB 7 would abort on its failed writer).
  for (int i = 0; i < 100; ++i) CHECK(!put(engine, "b").ok());
  CHECK(writes == 1);
  CHECK(resumes == 0);
  // After the resume interval the engine is asked to resume; it still cannot.
  failing = false;
  const auto resume_wait = std::chrono::milliseconds(5 * kEngineResumeIntervalMs);
  REQUIRE(test::poll_until(
      [&] {
        (void)put(engine, "c");
        return resumes >= 1;
      },
      resume_wait));
  CHECK(writes == 1);
  // Once it can, writes reach it again.
  resume_ok = true;
  REQUIRE(test::poll_until([&] { return put(engine, "d").ok(); }, resume_wait));
  CHECK(writes == 2);
  std::string value;
  CHECK(engine.get("d", &value).ok());
}

}  // namespace
}  // namespace chorus
