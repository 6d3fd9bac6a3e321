// Unit tests of the pure parts: durations, sinks, percentiles, threshold parsing, options, and
// the roots --cacert makes https trust.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import tls from 'node:tls';

import { formatDuration, parseDuration } from '../lib/durations.mjs';
import { trustedRoots } from '../lib/http_bridge.mjs';
import { parseMetricSelector, Registry, TrendSink } from '../lib/metrics.mjs';
import { consolidate, rampingTarget } from '../lib/options.mjs';
import { buildThresholds, evaluate, parseExpression } from '../lib/thresholds.mjs';

test('durations parse like k6 and format like its summary', () => {
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('10'), 10_000);
  assert.equal(parseDuration(250), 250);
  assert.throws(() => parseDuration('10 parsecs'));
  assert.throws(() => parseDuration(''));
  assert.equal(formatDuration(0.5), '500µs');
  assert.equal(formatDuration(12.345), '12.35ms');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(123_000), '2m3s');
});

function near(actual, expected) {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);
}

test('Trend percentiles interpolate between ranks as k6 does', () => {
  const sink = new TrendSink();
  for (let v = 1; v <= 100; v++) sink.add(v);
  near(sink.stat('p(90)'), 90.1);
  near(sink.stat('p(95)'), 95.05);
  assert.equal(sink.stat('med'), 50.5);
  assert.equal(sink.stat('avg'), 50.5);
  assert.equal(sink.stat('p(100)'), 100);
  assert.equal(sink.stat('p(0)'), 1);
  assert.equal(new TrendSink().stat('p(99)'), 0);
});

test('a Trend past its capacity keeps exact count, min, max and avg and bounded memory', () => {
  const sink = new TrendSink(1000);
  for (let v = 1; v <= 100_000; v++) sink.add(v);
  assert.equal(sink.kept.length, 1000);
  assert.equal(sink.samples, 100_000);
  assert.equal(sink.min, 1);
  assert.equal(sink.max, 100_000);
  assert.equal(sink.stat('avg'), 50_000.5);
  assert.equal(sink.exact(), false);
  // A uniform reservoir: the median estimate lands near the true one.
  assert.ok(Math.abs(sink.stat('med') - 50_000) < 5_000, `median estimate ${sink.stat('med')}`);
});

test('threshold expressions parse, are checked against metric types and evaluate', () => {
  assert.deepEqual(parseExpression('p(99.9) <= 250'), {
    source: 'p(99.9) <= 250',
    aggregation: 'p(99.9)',
    operator: '<=',
    value: 250,
  });
  assert.throws(() => parseExpression('p99<5'));
  assert.throws(() => parseExpression('rate<<1'));
  const registry = new Registry();
  assert.throws(
    () => buildThresholds({ http_req_duration: ['rate<1'] }, registry),
    /not an aggregation of a trend/,
  );
  assert.throws(() => buildThresholds({ nothing: ['count<1'] }, registry), /does not exist/);
  const list = buildThresholds(
    {
      http_req_failed: ['rate<0.5'],
      'http_reqs{status:200}': ['count>=2'],
      iterations: [{ threshold: 'count>0', abortOnFail: true }],
    },
    registry,
  );
  registry.add('http_req_failed', 1, {});
  registry.add('http_req_failed', 0, {});
  registry.add('http_reqs', 1, { status: '200' });
  registry.add('http_reqs', 1, { status: '503' });
  const failed = evaluate(list, 1000);
  assert.deepEqual(
    failed.map((t) => `${t.key} ${t.expression.source}`),
    ['http_req_failed rate<0.5', 'http_reqs{status:200} count>=2', 'iterations count>0'],
  );
  registry.add('http_reqs', 1, { status: '200' });
  registry.add('http_req_failed', 0, {});
  registry.add('iterations', 1, {});
  assert.deepEqual(evaluate(list, 1000), []);
  assert.equal(list[2].abortOnFail, true);
});

test('metric selectors take tags with spaces and quotes', () => {
  assert.deepEqual(parseMetricSelector("http_req_duration{ name : 'x y', status:200 }"), {
    name: 'http_req_duration',
    tags: { name: 'x y', status: '200' },
  });
});

test('options: the command line wins and shortcuts pick the executor', () => {
  assert.equal(consolidate({ vus: 2, duration: '5s' }, {}).plan.executor, 'constant-vus');
  assert.equal(consolidate({ stages: [{ duration: '1s', target: 3 }] }, {}).plan.vusMax, 3);
  const stages = [{ duration: '1m', target: 50 }];
  const overridden = consolidate({ stages }, { duration: '2s', vus: 1 });
  assert.equal(overridden.plan.executor, 'constant-vus');
  assert.equal(overridden.plan.durationMs, 2000);
  assert.equal(consolidate({}, { iterations: 4 }).plan.executor, 'shared-iterations');
  assert.throws(() => consolidate({ vus: 5, iterations: 2 }, {}), /cannot be more than iterations/);
  assert.throws(() => consolidate({ scenarios: {} }, {}), /not supported/);
  assert.throws(() => consolidate({ vus: 5000, duration: '1s' }, {}), /limit/);
});

test('ramping adds a VU when the line reaches it and removes one when it drops below', () => {
  const stages = [
    { duration: '4s', target: 5 },
    { duration: '4s', target: 1 },
  ];
  const plan = consolidate({ stages }, {}).plan;
  assert.equal(rampingTarget(plan, 0), 1);
  assert.equal(rampingTarget(plan, 999), 1);
  assert.equal(rampingTarget(plan, 1000), 2);
  assert.equal(rampingTarget(plan, 3999), 4);
  assert.equal(rampingTarget(plan, 4000), 5);
  assert.equal(rampingTarget(plan, 4001), 5);
  assert.equal(rampingTarget(plan, 5000), 4);
  assert.equal(rampingTarget(plan, 9000), 1);
});

test('--cacert adds the certificates in its file to the default roots', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k6-runner-ca-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Two real certificates (any two of Node's roots) in one file, with text around them.
  const [first, second] = tls.rootCertificates;
  const file = path.join(dir, 'ca.pem');
  fs.writeFileSync(file, `bundle\n${first}\n\n${second}\ntrailer\n`);
  const roots = trustedRoots(file);
  // Node's `ca` option alone would drop its roots, and with them every public server.
  assert.equal(roots.length, tls.rootCertificates.length + 2);
  assert.deepEqual(roots.slice(0, tls.rootCertificates.length), tls.rootCertificates);
  assert.deepEqual(roots.slice(-2), [first.trim(), second.trim()]);
  assert.throws(() => trustedRoots(path.join(dir, 'none.pem'), 'the CA'), /^Error: the CA: cannot/);
  const mangled = path.join(dir, 'mangled.pem');
  fs.writeFileSync(mangled, first.replace(/\n[A-Za-z0-9+/]{8}/, '\n'));
  assert.throws(() => trustedRoots(mangled), /does not parse/);
});
