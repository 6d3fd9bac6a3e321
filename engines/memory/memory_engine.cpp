#include "engines/memory/memory_engine.h"

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace chorus {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

class MemoryIterator final : public EngineIterator {
 public:
  explicit MemoryIterator(Entries entries) : entries_(std::move(entries)) {}
  bool valid() const override { return index_ < entries_.size(); }
  void next() override { ++index_; }
  std::string_view key() const override { return entries_[index_].first; }
  std::string_view value() const override { return entries_[index_].second; }
  Status status() const override { return Status::OK(); }

 private:
  Entries entries_;
  size_t index_ = 0;
};

class MemoryEngine final : public Engine {
 public:
  Status get(std::string_view key, std::string* value) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return Status::NotFound();
    value->assign(it->second);
    return Status::OK();
  }

  Status write(const WriteBatch& batch, bool /*sync*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const WriteBatch::Op& op : batch.ops()) {
      if (op.is_delete) {
        map_.erase(op.key);
      } else {
        map_.insert_or_assign(op.key, op.value);
      }
    }
    return Status::OK();
  }

  std::unique_ptr<EngineIterator> scan(std::string_view begin, std::string_view end) override {
    Entries entries;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = map_.lower_bound(begin); it != map_.end(); ++it) {
      if (!end.empty() && std::string_view(it->first) >= end) break;
      entries.emplace_back(it->first, it->second);
    }
    return std::make_unique<MemoryIterator>(std::move(entries));
  }

  Status flush() override { return Status::OK(); }
  EngineKind kind() const override { return EngineKind::kMemory; }

 private:
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> map_;  // transparent: lookups by string_view
};

}  // namespace

std::unique_ptr<Engine> make_memory_engine() {
  return std::make_unique<MemoryEngine>();
}

}  // namespace chorus
