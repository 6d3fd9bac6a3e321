// Read-your-writes across nodes: each VU overwrites its own key every iteration through one node
// at w=quorum, then reads it through ANOTHER node at r=quorum. With R + W > N every acknowledged
// write must be visible to that read, so anything else (an older version, or 404) is a violation.
// Violations fail the run (threshold count==0) and are logged with both nodes.
//
//   k6 run -e CHORUS_URLS=... -e VUS=5 -e DURATION=1m tests/k6/read-your-writes.js
//
// A read that fails outright (503/504/connection error) is an availability failure, not a stale
// read: it fails a check and counts in ryw_reads_failed, not in the violations.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Rate } from 'k6/metrics';
import exec from 'k6/execution';

import {
  envInt,
  envNumber,
  envString,
  kJsonParams,
  kSummaryTrendStats,
  kvUrl,
  startRun,
  targets,
  withAuth,
} from './lib/chorus.js';

const violations = new Counter('ryw_violations');
const violationRate = new Rate('ryw_violation_rate');
const readsChecked = new Counter('ryw_reads_checked');
const readsFailed = new Counter('ryw_reads_failed');
const writesFailed = new Counter('ryw_writes_failed');

// Violations printed per VU; all are counted.
const kViolationLogsMax = 20;
let violationLogs = 0;

export const options = {
  vus: envInt('VUS', 5),
  duration: envString('DURATION', '1m'),
  summaryTrendStats: kSummaryTrendStats,
  thresholds: {
    ryw_violations: ['count==0'],
    ryw_violation_rate: ['rate==0'],
    ryw_reads_checked: ['count>0'], // a run that checked nothing proved nothing
    checks: ['rate>0.99'],
    http_req_failed: ['rate<0.01'],
  },
};

export function setup() {
  const urls = targets();
  if (urls.length < 2) {
    console.warn('CHORUS_URLS has one node: reads cannot go through another node');
  }
  return startRun();
}

export default function (data) {
  const { urls, run } = data;
  const vu = exec.vu.idInTest;
  const iteration = exec.vu.iterationInScenario;
  // One key per VU, overwritten every iteration: a read must see this iteration's version.
  const key = `${run}/ryw/vu${vu}`;
  const value = `vu${vu}-iteration${iteration}-${Math.floor(Math.random() * 1e9)}`;
  const writer = urls[(vu + iteration) % urls.length];
  const reader = urls[(vu + iteration + 1) % urls.length];

  const write = http.put(
    kvUrl(writer, key, 'w=quorum'),
    JSON.stringify({ value }),
    withAuth({ ...kJsonParams, tags: { name: 'PUT /v1/kv/{key}?w=quorum' } }),
  );
  if (!check(write, { 'write acknowledged at w=quorum': (r) => r.status === 200 })) {
    writesFailed.add(1);
    return; // an unacknowledged write promises nothing
  }

  const read = http.get(
    kvUrl(reader, key, 'r=quorum'),
    withAuth({
      tags: { name: 'GET /v1/kv/{key}?r=quorum' },
      responseCallback: http.expectedStatuses(200, 404),
    }),
  );
  if (read.status !== 200 && read.status !== 404) {
    readsFailed.add(1);
    check(read, { 'read through another node answers': () => false });
    return;
  }
  const seen = read.status === 200 ? read.json('value') : null;
  const fresh = seen === value;
  readsChecked.add(1);
  violations.add(fresh ? 0 : 1);
  violationRate.add(!fresh);
  check(read, { 'read through another node returns the value just written': () => fresh });
  if (!fresh && violationLogs < kViolationLogsMax) {
    violationLogs += 1;
    console.error(
      `read-your-writes violation on ${key}: wrote ${value} through ${writer}, ` +
        `read ${read.status === 200 ? seen : '404'} through ${reader}`,
    );
  }
  const pauseS = envNumber('SLEEP_S', 0);
  if (pauseS > 0) sleep(pauseS);
}
