// Metrics: counters, gauges and latency histograms, rendered in the Prometheus text format.
//
// A MetricsRegistry is owned by the node and handed to components, which register their metrics
// once at construction and keep the returned pointers (valid for the registry's lifetime). Updating
// a metric is a relaxed atomic operation, safe from any thread; registration and render() take a
// mutex that is never held while a metric is updated.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace chorus {

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Latency histogram with fixed bucket bounds in microseconds (exported in seconds, as Prometheus
// expects). Buckets span 50us..10s, enough for a local engine call up to a request deadline.
class Histogram {
 public:
  static constexpr std::array<uint64_t, 18> kBoundsUs = {
      50,     100,     250,     500,     1'000,     2'500,     5'000,     10'000,     25'000,
      50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000, UINT64_MAX};

  void observe_us(uint64_t us);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t sum_us() const { return sum_us_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBoundsUs.size()> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_us_{0};
};

class MetricsRegistry;

// chorus_security_refusals_total{reason="<reason>"}: the one family every security check (HTTP
// ACL, sealed gossip, internode TLS and identity) counts its refusals in.
Counter* security_refusal_counter(MetricsRegistry* registry, const std::string& reason);

class MetricsRegistry {
 public:
  // `name` is a Prometheus metric name (e.g. "chorus_requests_total"); `labels` is either empty or
  // a preformatted label list such as `op="get",code="200"`. Registering the same name and labels
  // twice returns the same metric.
  Counter* counter(const std::string& name, const std::string& help,
                   const std::string& labels = {});
  Gauge* gauge(const std::string& name, const std::string& help, const std::string& labels = {});
  Histogram* histogram(const std::string& name, const std::string& help,
                       const std::string& labels = {});

  // The whole registry in Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    // label string -> index into the matching deque below
    std::map<std::string, size_t> series;
  };
  Family& family(const std::string& name, const std::string& help, Kind kind);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  // deques keep addresses stable as metrics are added
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
};

}  // namespace chorus
