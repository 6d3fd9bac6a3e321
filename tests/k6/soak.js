// Soak: a modest constant load for a long time (30 minutes by default) to surface leaks, slow
// growth in latency, compaction stalls and anti-entropy trouble. Each VU cycles through its own
// bounded set of keys (so the data set stays bounded): write at w=quorum, read back through
// another node at r=quorum, and every tenth iteration delete and confirm the 404.
//
//   k6 run -e CHORUS_URLS=... -e VUS=10 -e DURATION=30m tests/k6/soak.js
//
// Env: VUS, DURATION, KEYS_PER_VU, VALUE_BYTES, SLEEP_S (think time), P99_MS.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

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

const kKeysPerVu = Math.max(1, envInt('KEYS_PER_VU', 100));
const kValueBytes = envInt('VALUE_BYTES', 1024);
const kSleepS = envNumber('SLEEP_S', 0.5);
const kDeleteEvery = 10;

const staleReads = new Counter('soak_stale_reads');

export const options = {
  vus: envInt('VUS', 10),
  duration: envString('DURATION', '30m'),
  summaryTrendStats: kSummaryTrendStats,
  thresholds: { ...serviceThresholds(), soak_stale_reads: ['count==0'] },
};

export function setup() {
  return startRun();
}

export default function (data) {
  const { urls, run } = data;
  const vu = exec.vu.idInTest;
  const iteration = exec.vu.iterationInScenario;
  const key = `${run}/soak/vu${vu}/${iteration % kKeysPerVu}`;
  const writer = urls[iteration % urls.length];
  const reader = urls[(iteration + 1) % urls.length];
  const value = makeValue(`${key}@${iteration}`, kValueBytes);

  const w = http.put(
    kvUrl(writer, key, 'w=quorum'),
    JSON.stringify({ value }),
    withAuth({ ...kJsonParams, tags: { name: 'PUT /v1/kv/{key}' } }),
  );
  if (check(w, { 'write: 200': (r) => r.status === 200 })) {
    const r = http.get(
      kvUrl(reader, key, 'r=quorum'),
      withAuth({ tags: { name: 'GET /v1/kv/{key}' } }),
    );
    const fresh = r.status === 200 && r.json('value') === value;
    if (r.status === 200 && !fresh) staleReads.add(1);
    check(r, { 'read back through another node: the value written': () => fresh });
  }
  if (iteration % kDeleteEvery === kDeleteEvery - 1) {
    const d = http.del(
      kvUrl(writer, key, 'w=quorum'),
      null,
      withAuth({ tags: { name: 'DELETE /v1/kv/{key}' } }),
    );
    check(d, { 'delete: 200': (r) => r.status === 200 });
    const gone = http.get(
      kvUrl(reader, key, 'r=quorum'),
      withAuth({
        tags: { name: 'GET /v1/kv/{key}' },
        responseCallback: http.expectedStatuses(404),
      }),
    );
    check(gone, { 'read after delete: 404': (r) => r.status === 404 });
  }
  if (kSleepS > 0) sleep(kSleepS);
}
