// Thresholds: k6's "<aggregation> <operator> <number>" expressions over a metric or submetric.
//
//   options.thresholds = {
//     http_req_failed: ['rate<0.01'],
//     'http_req_duration{expected_response:true}': ['p(99)<500', { threshold: 'avg<100',
//                                                                 abortOnFail: true }],
//   }
//
// Which aggregations a metric type allows follows k6: Trend avg/min/max/med/p(N), Counter
// count/rate, Rate rate, Gauge value. Empty metrics evaluate to 0, as in k6 since v0.38.

import { parseDuration } from './durations.mjs';
import { MetricType, parseMetricSelector } from './metrics.mjs';

const kAllowed = {
  [MetricType.trend]: /^(avg|min|max|med|p\(\d+(\.\d+)?\))$/,
  [MetricType.counter]: /^(count|rate)$/,
  [MetricType.rate]: /^rate$/,
  [MetricType.gauge]: /^value$/,
};

// "<aggregation> <operator> <number>", blanks allowed around each part.
const kAggregation = String.raw`avg|min|max|med|count|rate|value|p\(\s*\d+(?:\.\d+)?\s*\)`;
const kOperator = '<=|>=|===|==|!=|<|>';
const kNumber = String.raw`-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?`;
const kExpression = new RegExp(
  String.raw`^\s*(${kAggregation})\s*(${kOperator})\s*(${kNumber})\s*$`,
);

const kCompare = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
  '===': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

export function parseExpression(source) {
  const m = kExpression.exec(source);
  if (!m) throw new Error(`malformed threshold expression ${JSON.stringify(source)}`);
  return { source, aggregation: m[1].replace(/\s+/g, ''), operator: m[2], value: Number(m[3]) };
}

// Builds the threshold list from options.thresholds against the registry (creating submetrics).
// Throws with a message naming the metric on any mistake (k6 then exits 104).
export function buildThresholds(config, registry) {
  const list = [];
  if (config == null) return list;
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new Error('options.thresholds must be an object of metric name -> list');
  }
  for (const [key, entries] of Object.entries(config)) {
    const { name, tags } = parseMetricSelector(key);
    const metric = registry.get(name);
    if (metric === undefined) {
      throw new Error(
        `invalid threshold on '${key}': metric '${name}' does not exist in the script`,
      );
    }
    const target = Object.keys(tags).length > 0 ? metric.submetric(tags) : metric;
    const items = Array.isArray(entries) ? entries : [entries];
    for (const item of items) {
      const spec = typeof item === 'string' ? { threshold: item } : item;
      if (spec == null || typeof spec.threshold !== 'string') {
        throw new Error(`invalid threshold on '${key}': ${JSON.stringify(item)}`);
      }
      const expression = parseExpression(spec.threshold);
      if (!kAllowed[metric.type].test(expression.aggregation)) {
        throw new Error(
          `invalid threshold '${spec.threshold}' on '${key}': '${expression.aggregation}' ` +
            `is not an aggregation of a ${metric.type} metric`,
        );
      }
      list.push({
        key,
        metric,
        sink: target.sink,
        expression,
        abortOnFail: Boolean(spec.abortOnFail),
        delayAbortEvalMs: spec.delayAbortEval ? parseDuration(spec.delayAbortEval) : 0,
        failed: false,
        observed: 0,
      });
    }
  }
  return list;
}

export function aggregate(sink, type, aggregation, elapsedMs) {
  switch (type) {
    case MetricType.trend:
      return sink.stat(aggregation);
    case MetricType.counter:
      return sink.values(elapsedMs)[aggregation];
    case MetricType.rate:
      return sink.values().rate;
    case MetricType.gauge:
      return sink.values().value;
    default:
      return NaN;
  }
}

// Evaluates every threshold; sets .failed and .observed on each. Returns the failed ones.
export function evaluate(thresholds, elapsedMs) {
  const failed = [];
  for (const t of thresholds) {
    t.observed = aggregate(t.sink, t.metric.type, t.expression.aggregation, elapsedMs);
    t.failed = !kCompare[t.expression.operator](t.observed, t.expression.value);
    if (t.failed) failed.push(t);
  }
  return failed;
}
