#include "core/metrics.h"

#include <cstdio>

#include "core/assert.h"

namespace chorus {

void Histogram::observe_us(uint64_t us) {
  size_t i = 0;
  while (us > kBoundsUs[i]) ++i;  // the last bound is UINT64_MAX, so this stops
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(us, std::memory_order_relaxed);
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, const std::string& help,
                                                 Kind kind) {
  auto [it, inserted] = families_.try_emplace(name, Family{kind, help, {}});
  // One name, one kind: registering a counter and a gauge under one name is a programming error.
  CHORUS_ASSERT(it->second.kind == kind);
  (void)inserted;
  return it->second;
}

Counter* MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const std::string& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = family(name, help, Kind::kCounter);
  auto [it, inserted] = f.series.try_emplace(labels, counters_.size());
  if (inserted) counters_.emplace_back();
  return &counters_[it->second];
}

Gauge* MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const std::string& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = family(name, help, Kind::kGauge);
  auto [it, inserted] = f.series.try_emplace(labels, gauges_.size());
  if (inserted) gauges_.emplace_back();
  return &gauges_[it->second];
}

Histogram* MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::string& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = family(name, help, Kind::kHistogram);
  auto [it, inserted] = f.series.try_emplace(labels, histograms_.size());
  if (inserted) histograms_.emplace_back();
  return &histograms_[it->second];
}

namespace {
std::string with_labels(const std::string& name, const std::string& labels,
                        const std::string& extra = {}) {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? name : name + "{" + all + "}";
}

std::string seconds(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(us) / 1e6);
  return buf;
}
}  // namespace

std::string MetricsRegistry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.kind == Kind::kCounter ? "counter"
                       : f.kind == Kind::kGauge ? "gauge"
                                                : "histogram";
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, index] : f.series) {
      if (f.kind == Kind::kCounter) {
        out += with_labels(name, labels) + " " + std::to_string(counters_[index].value()) + "\n";
      } else if (f.kind == Kind::kGauge) {
        out += with_labels(name, labels) + " " + std::to_string(gauges_[index].value()) + "\n";
      } else {
        const Histogram& h = histograms_[index];
        uint64_t cumulative = 0;
        for (size_t i = 0; i < Histogram::kBoundsUs.size(); ++i) {
          cumulative += h.bucket(i);
          const bool last = i + 1 == Histogram::kBoundsUs.size();
          const std::string le =
              "le=\"" + (last ? std::string("+Inf") : seconds(Histogram::kBoundsUs[i])) + "\"";
          out +=
              with_labels(name + "_bucket", labels, le) + " " + std::to_string(cumulative) + "\n";
        }
        out += with_labels(name + "_sum", labels) + " " + seconds(h.sum_us()) + "\n";
        out += with_labels(name + "_count", labels) + " " + std::to_string(h.count()) + "\n";
      }
    }
  }
  return out;
}

Counter* security_refusal_counter(MetricsRegistry* registry, const std::string& reason) {
  return registry->counter("chorus_security_refusals_total",
                           "Messages and requests refused by a security check, by reason",
                           "reason=\"" + reason + "\"");
}

}  // namespace chorus
