// Smoke test: every public endpoint of Chorus once, with checks on status and body. One VU, one
// iteration; any failed check or unexpected HTTP status fails the run.
//
//   k6 run -e CHORUS_URLS=http://127.0.0.1:8081,http://127.0.0.1:8082 tests/k6/smoke.js
//
// Every request carries CHORUS_TOKEN (withAuth), which must be an admin token on a secure cluster:
// the script also reads /v1/debug and /v1/admin.
//
// Requests that must fail (404 after delete, bad input) declare their status as expected, so
// http_req_failed counts only real failures.
import http from 'k6/http';
import { check, group } from 'k6';
import encoding from 'k6/encoding';

import { kJsonParams, kSummaryTrendStats, kvUrl, startRun, withAuth } from './lib/chorus.js';

export const options = {
  vus: 1,
  iterations: 1,
  summaryTrendStats: kSummaryTrendStats,
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
  },
};

// The key limit of the API (core/limits.h kKeyBytesMax).
const kKeyBytesMax = 1024;

export function setup() {
  return startRun();
}

function expect(status, extra) {
  return { ...extra, responseCallback: http.expectedStatuses(status) };
}

function isJsonError(r, status, code) {
  let body;
  try {
    body = r.json();
  } catch (e) {
    return false;
  }
  return r.status === status && body.error === code && typeof body.message === 'string';
}

// 200 and `field` (a r.json() selector) equal to `expected`.
function has(r, field, expected) {
  return r.status === 200 && r.json(field) === expected;
}

function octetStream(extra) {
  return { ...extra, headers: { 'Content-Type': 'application/octet-stream' } };
}

function readWrite(urls, run, key) {
  // Writes go through the first node and reads through the others, so a value crosses nodes.
  const [a, b, c] = [urls[0], urls[1 % urls.length], urls[2 % urls.length]];
  const body = JSON.stringify({ value: 'hello' });
  let r = http.put(kvUrl(a, key, 'w=quorum'), body, withAuth(kJsonParams));
  check(r, {
    'PUT JSON value: 200': (res) => res.status === 200,
    'PUT JSON value: acks >= 2': (res) => res.json('acks') >= 2,
    'PUT JSON value: the key comes back decoded': (res) => res.json('key') === key,
  });
  r = http.get(kvUrl(b, key, 'r=quorum'), withAuth());
  check(r, {
    'GET through another node at r=quorum: the value': (res) => has(res, 'value', 'hello'),
    'GET: timestamp and origin node': (res) =>
      res.json('timestamp') > 0 && typeof res.json('node') === 'string',
  });
  r = http.get(kvUrl(c, key, 'r=all'), withAuth());
  check(r, { 'GET at r=all: the value': (res) => has(res, 'value', 'hello') });
  r = http.get(kvUrl(c, key, 'r=1'), withAuth());
  check(r, { 'GET at r=1: answers': (res) => res.status === 200 });
}

function binaryValues(urls, run) {
  const [a, b] = [urls[0], urls[1 % urls.length]];
  // Bytes that are not UTF-8: they come back as value_base64.
  const bytes = new Uint8Array([0, 1, 2, 255]);
  const b64 = encoding.b64encode(bytes.buffer);
  const asJson = JSON.stringify({ value_base64: b64 });
  let r = http.put(kvUrl(a, `${run}/b64`, 'w=2'), asJson, withAuth(kJsonParams));
  check(r, { 'PUT value_base64 at w=2: 200': (res) => res.status === 200 });
  r = http.get(kvUrl(b, `${run}/b64`, 'r=2'), withAuth());
  check(r, { 'GET of non-UTF-8 bytes: value_base64': (res) => has(res, 'value_base64', b64) });
  r = http.put(kvUrl(a, `${run}/raw`, 'w=quorum'), bytes.buffer, withAuth(octetStream()));
  check(r, { 'PUT raw octet-stream body: 200': (res) => res.status === 200 });
  r = http.get(kvUrl(b, `${run}/raw`, 'r=quorum'), withAuth());
  check(r, { 'GET of the raw body: the same bytes': (res) => has(res, 'value_base64', b64) });
  r = http.put(kvUrl(a, `${run}/raw-text`), 'plain text body', withAuth(octetStream()));
  check(r, { 'PUT raw UTF-8 body: 200': (res) => res.status === 200 });
  r = http.get(kvUrl(b, `${run}/raw-text`, 'r=quorum'), withAuth());
  check(r, {
    'raw UTF-8 body reads back as "value"': (res) => has(res, 'value', 'plain text body'),
  });
}

function expiryAndDebug(urls, run, key) {
  const [a, b] = [urls[0], urls[1 % urls.length]];
  // Written to every replica and fsynced; the node's own record carries the expiry.
  const ttlKey = `${run}/ttl`;
  const body = JSON.stringify({ value: 'temporary', ttl_s: 600 });
  let r = http.put(kvUrl(a, ttlKey, 'w=all&sync=true'), body, withAuth(kJsonParams));
  check(r, {
    'PUT with ttl_s at w=all&sync=true: every replica acks': (res) =>
      has(res, 'acks', Math.min(3, urls.length)),
  });
  r = http.get(kvUrl(b, ttlKey, 'r=quorum'), withAuth());
  check(r, { 'GET before expiry: the value': (res) => has(res, 'value', 'temporary') });
  r = http.get(`${a}/v1/debug/local/${encodeURIComponent(ttlKey)}`, withAuth());
  check(r, {
    'debug/local: this node holds the record': (res) => has(res, 'value', 'temporary'),
    'debug/local: expiry, epoch, not a tombstone': (res) =>
      res.json('expiry_ms') > Date.now() && res.json('epoch') >= 0 && !res.json('tombstone'),
  });
  r = http.get(`${a}/v1/debug/owners/${encodeURIComponent(key)}`, withAuth());
  check(r, {
    'debug/owners: the key, its partition and owners': (res) =>
      has(res, 'key', key) && res.json('partition') >= 0 && res.json('owners.#') >= 1,
  });
}

function deletion(urls, run, key) {
  const [a, b] = [urls[0], urls[1 % urls.length]];
  let r = http.del(kvUrl(a, key, 'w=quorum'), null, withAuth());
  check(r, { 'DELETE at w=quorum: 200': (res) => res.status === 200 });
  r = http.get(kvUrl(b, key, 'r=quorum'), withAuth(expect(404)));
  check(r, { 'GET after DELETE: 404 not_found': (res) => isJsonError(res, 404, 'not_found') });
  r = http.get(kvUrl(a, `${run}/never-written`), withAuth(expect(404)));
  check(r, { 'GET of a key never written: 404': (res) => isJsonError(res, 404, 'not_found') });
}

function cluster(urls) {
  for (const url of urls) {
    let r = http.get(`${url}/v1/health`, withAuth());
    check(r, { 'health: 200 ok': (res) => has(res, 'status', 'ok') });
    r = http.get(`${url}/v1/ready`, withAuth());
    check(r, { 'ready: 200 true': (res) => has(res, 'ready', true) });
    r = http.get(`${url}/v1/cluster`, withAuth());
    check(r, {
      'cluster: formed, every listed node a member': (res) =>
        has(res, 'formed', true) && res.json('members.#') >= urls.length,
      'cluster: a Raft leader is known': (res) => `${res.json('raft.leader') || ''}` !== '',
    });
    r = http.get(`${url}/metrics`, withAuth());
    check(r, {
      'metrics: Prometheus text': (res) =>
        res.status === 200 &&
        res.headers['Content-Type'].startsWith('text/plain') &&
        res.body.includes('# TYPE chorus_'),
    });
    r = http.get(`${url}/v1/admin/repair`, withAuth());
    check(r, {
      'admin/repair status: per-partition progress': (res) =>
        res.status === 200 && Array.isArray(res.json('partitions')),
    });
  }
}

function badInput(urls, run) {
  const a = urls[0];
  const bad = kvUrl(a, `${run}/bad`);
  const error = (status, code) => (res) => isJsonError(res, status, code);
  let r = http.put(bad, '{"value": "unterminated', withAuth(expect(400, kJsonParams)));
  check(r, {
    'malformed JSON: 400 with a JSON error': (res) =>
      res.status === 400 && typeof res.json('error') === 'string',
  });
  const badBase64 = JSON.stringify({ value_base64: '***' });
  r = http.put(bad, badBase64, withAuth(expect(400, kJsonParams)));
  check(r, { 'bad base64: 400 invalid_base64': error(400, 'invalid_base64') });
  r = http.get(kvUrl(a, `${run}/bad`, 'r=99'), withAuth(expect(400)));
  check(r, { 'r out of range: 400 invalid_consistency': error(400, 'invalid_consistency') });
  r = http.get(`${a}/v1/nowhere`, withAuth(expect(404)));
  check(r, { 'unknown route: 404 not_found': error(404, 'not_found') });
  r = http.post(bad, '{}', withAuth(expect(405, kJsonParams)));
  check(r, { 'wrong method: 405 method_not_allowed': error(405, 'method_not_allowed') });
  const longKey = kvUrl(a, 'k'.repeat(kKeyBytesMax + 1));
  r = http.put(longKey, JSON.stringify({ value: 'v' }), withAuth(expect(413, kJsonParams)));
  check(r, { 'oversized key: 413 key_too_large': error(413, 'key_too_large') });
}

export default function (data) {
  const { urls, run } = data;
  // A key with a slash, a space and a non-ASCII letter travels percent-encoded.
  const key = `${run}/smoke key ü`;
  group('kv', () => {
    readWrite(urls, run, key);
    binaryValues(urls, run);
    expiryAndDebug(urls, run, key);
    deletion(urls, run, key);
  });
  group('cluster', () => cluster(urls));
  group('bad input', () => badInput(urls, run));
}
