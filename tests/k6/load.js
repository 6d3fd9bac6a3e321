// Load: ramps VUs up, holds, ramps down; each iteration is a read or a write (50/50 by default)
// of a random key from a bounded key space, through a random node at the default quorums.
//
//   k6 run -e CHORUS_URLS=... -e VUS=20 -e RAMP=30s -e HOLD=1m -e P99_MS=500 tests/k6/load.js
//
// Env: VUS (peak VUs), RAMP / HOLD / RAMP_DOWN (stage durations), KEYS (key space), VALUE_BYTES,
// WRITE_PERCENT, SLEEP_S (think time per iteration), P99_MS (the latency threshold).
import http from 'k6/http';
import { check, sleep } from 'k6';

import {
  envInt,
  envNumber,
  envString,
  kJsonParams,
  kSummaryTrendStats,
  kvUrl,
  makeValue,
  serviceThresholds,
  startRun,
  withAuth,
} from './lib/chorus.js';

const kVus = envInt('VUS', 20);
const kRamp = envString('RAMP', '30s');
const kKeys = Math.max(1, envInt('KEYS', 10000));
const kValueBytes = envInt('VALUE_BYTES', 100);
const kWritePercent = Math.min(100, envInt('WRITE_PERCENT', 50));
const kSleepS = envNumber('SLEEP_S', 0);

export const options = {
  stages: [
    { duration: kRamp, target: kVus },
    { duration: envString('HOLD', '1m'), target: kVus },
    { duration: envString('RAMP_DOWN', kRamp), target: 0 },
  ],
  summaryTrendStats: kSummaryTrendStats,
  thresholds: serviceThresholds(),
};

// Keys this VU wrote successfully: reading one of them back as 404 is an error, not a miss.
const written = new Set();

export function setup() {
  return startRun();
}

export default function (data) {
  const { urls, run } = data;
  const node = urls[Math.floor(Math.random() * urls.length)];
  const key = `${run}/load/${Math.floor(Math.random() * kKeys)}`;
  if (Math.random() * 100 < kWritePercent) {
    const body = JSON.stringify({ value: makeValue(key, kValueBytes) });
    const r = http.put(
      kvUrl(node, key),
      body,
      withAuth({ ...kJsonParams, tags: { name: 'PUT /v1/kv/{key}' } }),
    );
    if (check(r, { 'write: 200': (res) => res.status === 200 })) written.add(key);
  } else {
    const r = http.get(
      kvUrl(node, key),
      withAuth({
        tags: { name: 'GET /v1/kv/{key}' },
        responseCallback: http.expectedStatuses(200, 404),
      }),
    );
    check(r, {
      'read: 200, or 404 for a key nobody wrote yet': (res) =>
        res.status === 200 || (res.status === 404 && !written.has(key)),
      'read: the value belongs to the key': (res) =>
        res.status !== 200 || res.json('value').startsWith(`${key}:`),
    });
  }
  if (kSleepS > 0) sleep(kSleepS);
}
