// The source side of partition streaming: pages cover a partition exactly once, in bounded sizes,
// resumable from any page's position; the page encoding rejects damage.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "core/record.h"
#include "engines/engine.h"
#include "engines/store.h"
#include "replication/partition_stream.h"

using namespace chorus;

namespace {

struct Fixture {
  ManualClock clock{1'700'000'000'000};
  MetricsRegistry metrics;
  Store store{std::move(open_engine(EngineKind::kMemory, "").value()), &clock};
  StreamService service{&store, &metrics};

  void put(const std::string& key, uint32_t partition, uint64_t epoch, std::string value) {
    Record r;
    r.value = std::move(value);
    r.ts = Timestamp::from_parts(clock.wall_ms(), 0);
    r.origin = "n1";
    r.epoch = epoch;
    auto applied = store.apply(key, partition, r, false);
    REQUIRE(applied.ok());
  }

  // Pages through `partition` with max_bytes per page; returns key -> value and counts pages.
  std::map<std::string, std::string> stream_all(uint32_t partition, size_t max_bytes,
                                                size_t* pages) {
    std::map<std::string, std::string> got;
    std::string position;
    *pages = 0;
    for (;;) {
      auto page = service.read_page(partition, position, max_bytes);
      REQUIRE(page.ok());
      ++*pages;
      size_t bytes = 0;
      for (const auto& item : page->items) {
        Record r;
        REQUIRE(decode_record(item.record, &r).ok());
        CHECK(got.count(item.key) == 0);  // each key once
        got[item.key] = r.value;
        bytes += item.key.size() + item.record.size();
      }
      if (page->items.size() > 1) CHECK(bytes <= max_bytes);
      if (page->done) return got;
      REQUIRE_FALSE(page->items.empty());
      position = page->next_position;
    }
  }
};

}  // namespace

TEST_CASE("partition stream pages cover one partition exactly across epochs") {
  Fixture f;
  for (int i = 0; i < 500; ++i) {
    f.put("key-" + std::to_string(i), i % 2 == 0 ? 5 : 6, 1 + i % 4, "value-" + std::to_string(i));
  }
  size_t pages = 0;
  auto got = f.stream_all(5, 2000, &pages);
  CHECK(got.size() == 250);
  for (const auto& [key, value] : got) CHECK(value == "value-" + key.substr(4));
  CHECK(pages > 5);  // the byte bound split it
  auto whole = f.stream_all(5, kStreamPageBytesMax, &pages);
  CHECK(pages == 1);
  CHECK(whole == got);
  CHECK(f.stream_all(7, 2000, &pages).empty());
}

TEST_CASE("partition stream puts a record larger than the page bound on a page of its own") {
  Fixture f;
  f.put("a", 1, 1, std::string(10'000, 'x'));
  f.put("b", 1, 1, "small");
  auto first = f.service.read_page(1, {}, 100);
  REQUIRE(first.ok());
  REQUIRE(first->items.size() == 1);
  CHECK(first->items[0].key == "a");
  CHECK_FALSE(first->done);
  auto second = f.service.read_page(1, first->next_position, 100);
  REQUIRE(second.ok());
  REQUIRE(second->items.size() == 1);
  CHECK(second->items[0].key == "b");
  CHECK(second->done);
}

TEST_CASE("partition stream page encoding round-trips and rejects damage") {
  StreamPage page;
  page.items.push_back({"k1", encode_record(Record{})});
  page.items.push_back({"k2", "raw"});
  page.next_position = "pos";
  page.done = false;
  const std::string bytes = encode_stream_page(page);
  StreamPage back;
  REQUIRE(decode_stream_page(bytes, &back).ok());
  CHECK(back.items.size() == 2);
  CHECK(back.items[1].record == "raw");
  CHECK(back.next_position == "pos");
  CHECK_FALSE(back.done);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    CHECK(decode_stream_page(bytes.substr(0, cut), &back).is_corruption());
  }
  CHECK(decode_stream_page(bytes + "x", &back).is_corruption());
}

TEST_CASE("partition stream service answers a malformed request with InvalidArgument") {
  Fixture f;
  Status got;
  f.service.handle("junk", [&](Status st, std::string) { got = st; });
  CHECK(got.code() == Status::Code::kInvalidArgument);
  f.put("a", 3, 1, "v");
  std::string reply;
  f.service.handle(encode_stream_request(3, {}, 1000), [&](Status st, std::string payload) {
    got = st;
    reply = std::move(payload);
  });
  REQUIRE(got.ok());
  StreamPage page;
  REQUIRE(decode_stream_page(reply, &page).ok());
  CHECK(page.items.size() == 1);
  CHECK(page.done);
}
