// The end-of-test summary: k6's text layout on stdout, and k6's --summary-export JSON.

import crypto from 'node:crypto';

import { formatDuration } from './durations.mjs';
import { MetricType } from './metrics.mjs';

export const kDefaultTrendStats = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'];
const kNameWidth = 31; // k6 pads names with dots to this column

function number(x) {
  if (!Number.isFinite(x)) return String(x);
  return Number.isInteger(x) ? String(x) : String(Number(x.toFixed(6)));
}

function bytes(x) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = x;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? number(Math.round(value)) : value.toFixed(1)} ${units[unit]}`;
}

function isData(metric) {
  return metric.name === 'data_sent' || metric.name === 'data_received';
}

function trendValue(metric, sink, stat) {
  const value = sink.stat(stat);
  return metric.isTime ? formatDuration(value) : number(value);
}

function describeSink(metric, sink, elapsedMs, trendStats) {
  switch (metric.type) {
    case MetricType.counter: {
      const { count, rate } = sink.values(elapsedMs);
      const format = isData(metric) ? bytes : number;
      return `${format(count)} ${format(rate)}/s`;
    }
    case MetricType.gauge: {
      const { value, min, max } = sink.values();
      return `${number(value)} min=${number(min)} max=${number(max)}`;
    }
    case MetricType.rate: {
      const { rate, passes, fails } = sink.values();
      return `${(rate * 100).toFixed(2)}% ✓ ${passes} ✗ ${fails}`;
    }
    case MetricType.trend: {
      const text = trendStats.map((s) => `${s}=${trendValue(metric, sink, s)}`).join(' ');
      return sink.exact() ? text : `${text} (percentiles from a ${sink.capacity}-sample reservoir)`;
    }
    default:
      return '';
  }
}

function line(mark, name, indent, value) {
  const label = `${' '.repeat(indent)}${name}`;
  const dots = '.'.repeat(Math.max(3, kNameWidth - label.length));
  return `   ${mark} ${label}${dots}: ${value}`;
}

function thresholdValue(t) {
  const { metric, expression, observed } = t;
  if (metric.type === MetricType.trend && metric.isTime) return formatDuration(observed);
  if (metric.type === MetricType.rate) return `${(observed * 100).toFixed(2)}%`;
  return number(observed);
}

// Checks grouped by group path, in first-seen order.
function checkLines(registry) {
  const out = [];
  const byGroup = new Map();
  for (const check of registry.checks.values()) {
    if (!byGroup.has(check.group)) byGroup.set(check.group, []);
    byGroup.get(check.group).push(check);
  }
  for (const [group, checks] of byGroup) {
    const depth = group === '' ? 0 : group.split('::').length - 1;
    const pad = ' '.repeat(5 + depth * 2);
    if (group !== '') {
      out.push('', `${' '.repeat(5 + (depth - 1) * 2)}█ ${group.split('::').pop()}`, '');
    }
    for (const c of checks) {
      out.push(`${pad}${c.fails === 0 ? '✓' : '✗'} ${c.name}`);
      if (c.fails > 0) {
        const total = c.passes + c.fails;
        const percent = Math.floor((c.passes / total) * 100);
        out.push(`${pad} ↳  ${percent}% — ✓ ${c.passes} / ✗ ${c.fails}`);
      }
    }
  }
  if (registry.checksDropped > 0) {
    out.push(`     (${registry.checksDropped} samples of further check names not itemized)`);
  }
  return out;
}

// The text summary. `run` has elapsedMs, thresholds (evaluated), trendStats, complete and
// interrupted iteration counts, vusMax.
export function textSummary(registry, run) {
  const out = [''];
  if (run.thresholds.length > 0) {
    out.push('  █ THRESHOLDS', '');
    const byKey = new Map();
    for (const t of run.thresholds) {
      if (!byKey.has(t.key)) byKey.set(t.key, []);
      byKey.get(t.key).push(t);
    }
    for (const [key, list] of byKey) {
      out.push(`    ${key}`);
      for (const t of list) {
        const { source, aggregation } = t.expression;
        out.push(`    ${t.failed ? '✗' : '✓'} '${source}' ${aggregation}=${thresholdValue(t)}`);
      }
      out.push('');
    }
  }
  const checks = checkLines(registry);
  if (checks.length > 0) out.push(...checks, '');
  const marks = new Map(); // metric or submetric name -> failed?
  for (const t of run.thresholds) {
    const sub = t.metric.submetrics.find((s) => s.sink === t.sink);
    const name = sub === undefined ? t.metric.name : sub.name;
    marks.set(name, (marks.get(name) || false) || t.failed);
  }
  const mark = (name) => (marks.has(name) ? (marks.get(name) ? '✗' : '✓') : ' ');
  const names = [...registry.metrics.keys()].sort();
  for (const name of names) {
    const metric = registry.metrics.get(name);
    const describe = (sink) => describeSink(metric, sink, run.elapsedMs, run.trendStats);
    const marked = marks.has(name) || metric.submetrics.some((s) => marks.has(s.name));
    if (metric.sink.samples === 0 && !marked) continue;
    out.push(line(mark(name), name, 0, describe(metric.sink)));
    for (const sub of metric.submetrics) {
      if (sub.sink.samples === 0 && !marks.has(sub.name)) continue;
      const tags = Object.entries(sub.tags)
        .map(([k, v]) => `${k}:${v}`)
        .join(', ');
      out.push(line(mark(sub.name), `{ ${tags} }`, 2, describe(sub.sink)));
    }
  }
  out.push(
    '',
    `running (${formatDuration(run.elapsedMs)}), 0/${run.vusMax} VUs, ` +
      `${run.complete} complete and ${run.interrupted} interrupted iterations`,
    '',
  );
  return out.join('\n');
}

function groupId(path) {
  return crypto.createHash('md5').update(path).digest('hex');
}

function exportSink(metric, sink, elapsedMs, trendStats) {
  switch (metric.type) {
    case MetricType.counter:
      return sink.values(elapsedMs);
    case MetricType.gauge:
      return sink.values();
    case MetricType.rate: {
      const { rate, passes, fails } = sink.values();
      return { passes, fails, value: rate };
    }
    case MetricType.trend: {
      const out = {};
      for (const s of trendStats) out[s] = sink.stat(s);
      return out;
    }
    default:
      return {};
  }
}

// k6's --summary-export document. As in k6, a threshold's value is true when it FAILED.
export function jsonSummary(registry, run) {
  const root = { name: '', path: '', id: groupId(''), groups: {}, checks: {} };
  const groupAt = (path) => {
    let node = root;
    if (path === '') return node;
    let at = '';
    for (const part of path.split('::').slice(1)) {
      at = `${at}::${part}`;
      node.groups[part] ??= { name: part, path: at, id: groupId(at), groups: {}, checks: {} };
      node = node.groups[part];
    }
    return node;
  };
  for (const c of registry.checks.values()) {
    const path = `${c.group}::${c.name}`;
    const { name, passes, fails } = c;
    groupAt(c.group).checks[name] = { name, path, id: groupId(path), passes, fails };
  }
  const metrics = {};
  const thresholdsOf = (sink) => {
    const own = run.thresholds.filter((t) => t.sink === sink);
    if (own.length === 0) return undefined;
    return Object.fromEntries(own.map((t) => [t.expression.source, t.failed]));
  };
  for (const metric of registry.metrics.values()) {
    const entries = [[metric.name, metric.sink], ...metric.submetrics.map((s) => [s.name, s.sink])];
    for (const [name, sink] of entries) {
      const thresholds = thresholdsOf(sink);
      if (sink.samples === 0 && thresholds === undefined) continue;
      metrics[name] = { ...exportSink(metric, sink, run.elapsedMs, run.trendStats) };
      if (thresholds !== undefined) metrics[name].thresholds = thresholds;
    }
  }
  return { root_group: root, metrics };
}
