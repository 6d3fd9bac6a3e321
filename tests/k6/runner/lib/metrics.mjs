// Metric sinks and the registry of the main thread: every sample of every VU ends up here.
//
// Types follow k6: Counter (sum, rate per second), Gauge (last, min, max), Rate (share of non-zero
// samples) and Trend (distribution). A metric may have submetrics, "name{tag:value,...}", created
// for thresholds; a sample feeds every submetric whose tags it carries.

import { kCheckNamesMax, kTrendSamplesMax } from './limits.mjs';

export const MetricType = Object.freeze({
  counter: 'counter',
  gauge: 'gauge',
  rate: 'rate',
  trend: 'trend',
});

// k6's rule for custom metric names (since v0.45).
const kMetricNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/;

export function validMetricName(name) {
  return typeof name === 'string' && kMetricNamePattern.test(name);
}

export class CounterSink {
  constructor() {
    this.count = 0;
    this.samples = 0;
  }
  add(value) {
    this.count += value;
    this.samples += 1;
  }
  values(elapsedMs) {
    return { count: this.count, rate: elapsedMs > 0 ? this.count / (elapsedMs / 1000) : 0 };
  }
}

export class GaugeSink {
  constructor() {
    this.value = 0;
    this.min = 0;
    this.max = 0;
    this.samples = 0;
  }
  add(value) {
    this.value = value;
    this.min = this.samples === 0 ? value : Math.min(this.min, value);
    this.max = this.samples === 0 ? value : Math.max(this.max, value);
    this.samples += 1;
  }
  values() {
    return { value: this.value, min: this.min, max: this.max };
  }
}

export class RateSink {
  constructor() {
    this.trues = 0;
    this.samples = 0;
  }
  add(value) {
    if (value !== 0) this.trues += 1;
    this.samples += 1;
  }
  // An empty Rate is 0, as in k6 since v0.38 (never NaN).
  values() {
    const rate = this.samples > 0 ? this.trues / this.samples : 0;
    return { rate, passes: this.trues, fails: this.samples - this.trues };
  }
}

// Keeps every sample up to kTrendSamplesMax, then a uniform reservoir (Algorithm R) of that size;
// count, sum, min and max are always exact.
export class TrendSink {
  constructor(capacity = kTrendSamplesMax) {
    this.capacity = capacity;
    this.kept = [];
    this.sorted = null;
    this.samples = 0;
    this.sum = 0;
    this.min = 0;
    this.max = 0;
    this.random = mulberry32(0x6b36); // seeded: a rerun keeps the same reservoir
  }
  add(value) {
    this.min = this.samples === 0 ? value : Math.min(this.min, value);
    this.max = this.samples === 0 ? value : Math.max(this.max, value);
    this.samples += 1;
    this.sum += value;
    this.sorted = null;
    if (this.kept.length < this.capacity) {
      this.kept.push(value);
      return;
    }
    const slot = Math.floor(this.random() * this.samples);
    if (slot < this.capacity) this.kept[slot] = value;
  }
  // k6's percentile: linear interpolation between the closest ranks; 0 when empty.
  percentile(fraction) {
    if (this.kept.length === 0) return 0;
    if (this.sorted === null) this.sorted = Float64Array.from(this.kept).sort();
    const values = this.sorted;
    if (values.length === 1) return values[0];
    const rank = fraction * (values.length - 1);
    const low = values[Math.floor(rank)];
    const high = values[Math.ceil(rank)];
    return low + (high - low) * (rank - Math.floor(rank));
  }
  exact() {
    return this.samples <= this.capacity;
  }
  values() {
    return {
      avg: this.samples > 0 ? this.sum / this.samples : 0,
      min: this.min,
      med: this.percentile(0.5),
      max: this.max,
      count: this.samples,
    };
  }
  // "p(99.9)" -> the value; other stat names come from values().
  stat(name) {
    const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(name);
    if (p) return this.percentile(Number(p[1]) / 100);
    return this.values()[name];
  }
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function newSink(type) {
  switch (type) {
    case MetricType.counter:
      return new CounterSink();
    case MetricType.gauge:
      return new GaugeSink();
    case MetricType.rate:
      return new RateSink();
    case MetricType.trend:
      return new TrendSink();
    default:
      throw new Error(`unknown metric type ${type}`);
  }
}

// "http_req_duration{ name : x, status:'200' }" -> { name, tags } (tags empty for a plain name).
export function parseMetricSelector(text) {
  const m = /^\s*([^{}\s]+)\s*(?:\{(.*)\})?\s*$/.exec(text);
  if (!m) throw new Error(`invalid metric name ${JSON.stringify(text)}`);
  const tags = {};
  if (m[2] !== undefined) {
    for (const pair of m[2].split(',')) {
      if (pair.trim() === '') continue;
      const colon = pair.indexOf(':');
      if (colon < 0) throw new Error(`invalid tag filter ${JSON.stringify(pair)} in ${text}`);
      const key = pair.slice(0, colon).trim();
      const value = pair
        .slice(colon + 1)
        .trim()
        .replace(/^(['"])(.*)\1$/, '$2');
      if (key === '') throw new Error(`empty tag name in ${text}`);
      tags[key] = value;
    }
  }
  return { name: m[1], tags };
}

export function selectorName(name, tags) {
  const keys = Object.keys(tags);
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}:${tags[k]}`).join(',')}}`;
}

export class Metric {
  constructor(name, type, isTime) {
    this.name = name;
    this.type = type;
    this.isTime = Boolean(isTime);
    this.sink = newSink(type);
    this.submetrics = []; // { name, tags, sink }
    this.builtin = false;
  }
  submetric(tags) {
    const name = selectorName(this.name, tags);
    let sub = this.submetrics.find((s) => s.name === name);
    if (!sub) {
      sub = { name, tags, sink: newSink(this.type), parent: this };
      this.submetrics.push(sub);
    }
    return sub;
  }
  add(value, tags) {
    this.sink.add(value);
    for (const sub of this.submetrics) {
      if (tagsMatch(sub.tags, tags)) sub.sink.add(value);
    }
  }
}

function tagsMatch(filter, tags) {
  for (const key in filter) {
    if (tags == null || tags[key] === undefined || String(tags[key]) !== filter[key]) return false;
  }
  return true;
}

// The built-in metrics of k6 that this runner produces.
const kBuiltins = [
  ['checks', MetricType.rate, false],
  ['data_received', MetricType.counter, false],
  ['data_sent', MetricType.counter, false],
  ['group_duration', MetricType.trend, true],
  ['http_req_blocked', MetricType.trend, true],
  ['http_req_connecting', MetricType.trend, true],
  ['http_req_duration', MetricType.trend, true],
  ['http_req_failed', MetricType.rate, false],
  ['http_req_receiving', MetricType.trend, true],
  ['http_req_sending', MetricType.trend, true],
  ['http_req_tls_handshaking', MetricType.trend, true],
  ['http_req_waiting', MetricType.trend, true],
  ['http_reqs', MetricType.counter, false],
  ['iteration_duration', MetricType.trend, true],
  ['iterations', MetricType.counter, false],
  ['vus', MetricType.gauge, false],
  ['vus_max', MetricType.gauge, false],
];

export class Registry {
  constructor() {
    this.metrics = new Map();
    for (const [name, type, isTime] of kBuiltins) {
      this.metrics.set(name, new Metric(name, type, isTime));
      this.metrics.get(name).builtin = true;
    }
    // k6 always shows http_req_duration for the expected responses.
    this.metrics.get('http_req_duration').submetric({ expected_response: 'true' });
    // Per check: { name, group, passes, fails }, keyed by group + name, in first-seen order.
    this.checks = new Map();
    this.checksDropped = 0;
  }

  // Declares a custom metric (from a VU's init code). Declaring the same name again with the
  // same type is fine; a different type is an error, as in k6.
  declare(name, type, isTime) {
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.type !== type) {
        throw new Error(`metric '${name}' already exists with type ${existing.type}, not ${type}`);
      }
      return existing;
    }
    if (!validMetricName(name)) throw new Error(`invalid metric name '${name}'`);
    const metric = new Metric(name, type, isTime);
    this.metrics.set(name, metric);
    return metric;
  }

  get(name) {
    return this.metrics.get(name);
  }

  add(name, value, tags) {
    const metric = this.metrics.get(name);
    if (metric === undefined) return; // a VU raced its own declaration message: cannot happen
    metric.add(value, tags);
    if (name === 'checks' && tags) this.countCheck(tags.check, tags.group || '', value !== 0);
  }

  countCheck(name, group, passed, limit = kCheckNamesMax) {
    const key = `${group}::${name}`;
    let entry = this.checks.get(key);
    if (entry === undefined) {
      if (this.checks.size >= limit) {
        this.checksDropped += 1;
        return;
      }
      entry = { name, group, passes: 0, fails: 0 };
      this.checks.set(key, entry);
    }
    if (passed) entry.passes += 1;
    else entry.fails += 1;
  }
}
