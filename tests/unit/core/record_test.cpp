#include <catch2/catch.hpp>

#include "core/coding.h"
#include "core/metrics.h"
#include "core/record.h"

using namespace chorus;

namespace {
Record sample() {
  Record r;
  r.value = std::string("hello\0world", 11);
  r.ts = Timestamp::from_parts(1'700'000'000'000, 3);
  r.origin = "n2";
  r.epoch = 7;
  r.expiry_ms = 1'800'000'000'000;
  return r;
}
}  // namespace

TEST_CASE("Record encoding round-trips every field") {
  Record in = sample();
  Record out;
  REQUIRE(decode_record(encode_record(in), &out).ok());
  REQUIRE(out.value == in.value);
  REQUIRE(out.ts == in.ts);
  REQUIRE(out.origin == in.origin);
  REQUIRE(out.epoch == 7);
  REQUIRE(out.expiry_ms == in.expiry_ms);
  REQUIRE_FALSE(out.tombstone);

  in.tombstone = true;
  in.value.clear();
  REQUIRE(decode_record(encode_record(in), &out).ok());
  REQUIRE(out.tombstone);
}

TEST_CASE("Every single-byte corruption of a record is reported as Corruption") {
  const std::string good = encode_record(sample());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    Record out;
    Status st = decode_record(bad, &out);
    INFO("byte " << i);
    REQUIRE(st.is_corruption());
  }
}

TEST_CASE("Truncated and empty records are Corruption - not a miss") {
  const std::string good = encode_record(sample());
  Record out;
  REQUIRE(decode_record("", &out).is_corruption());
  for (size_t n : {size_t{1}, size_t{9}, good.size() / 2, good.size() - 1}) {
    REQUIRE(decode_record(good.substr(0, n), &out).is_corruption());
  }
}

TEST_CASE("Record digest changes with version and content - not with nothing") {
  Record a = sample();
  Record b = sample();
  REQUIRE(record_digest(a) == record_digest(b));
  b.value += "!";
  REQUIRE(record_digest(a) != record_digest(b));
  b = sample();
  b.ts = Timestamp{b.ts.packed + 1};
  REQUIRE(record_digest(a) != record_digest(b));
}

TEST_CASE("Expiry and tombstones make a record absent") {
  Record r = sample();
  REQUIRE_FALSE(r.absent_at(r.expiry_ms - 1));
  REQUIRE(r.absent_at(r.expiry_ms));
  r.expiry_ms = 0;
  REQUIRE_FALSE(r.absent_at(UINT64_MAX));
  r.tombstone = true;
  REQUIRE(r.absent_at(0));
}

TEST_CASE("Varint and length-prefixed reads are bounds-checked") {
  std::string buf;
  put_varint64(&buf, 300);
  put_length_prefixed(&buf, "abc");
  Reader in(buf);
  uint64_t v = 0;
  std::string_view s;
  REQUIRE(in.get_varint64(&v));
  REQUIRE(v == 300);
  REQUIRE(in.get_length_prefixed(&s, 3));
  REQUIRE(s == "abc");
  uint8_t byte = 0;
  REQUIRE_FALSE(in.get_u8(&byte));  // nothing left

  std::string lying;
  put_varint64(&lying, 1000);  // claims 1000 bytes, has 2
  lying += "xy";
  Reader in2(lying);
  REQUIRE_FALSE(in2.get_length_prefixed(&s, 5000));
  Reader in3(lying);
  REQUIRE_FALSE(in3.get_length_prefixed(&s, 10));  // over the caller's bound
}

TEST_CASE("Metrics render in Prometheus text format") {
  MetricsRegistry m;
  m.counter("chorus_x_total", "X things", "op=\"get\"")->inc(3);
  REQUIRE(m.counter("chorus_x_total", "X things", "op=\"get\"")->value() == 3);
  m.histogram("chorus_lat_seconds", "Latency")->observe_us(700);
  const std::string text = m.render();
  REQUIRE(text.find("# TYPE chorus_x_total counter") != std::string::npos);
  REQUIRE(text.find("chorus_x_total{op=\"get\"} 3") != std::string::npos);
  REQUIRE(text.find("chorus_lat_seconds_bucket{le=\"0.000500\"} 0") != std::string::npos);
  REQUIRE(text.find("chorus_lat_seconds_bucket{le=\"0.001000\"} 1") != std::string::npos);
  REQUIRE(text.find("chorus_lat_seconds_count 1") != std::string::npos);
}
