// What the Chorus k6 scripts share: where the cluster is, how requests authenticate, how keys and
// values are made, and a setup() step that waits for every node to be ready. Only the plain k6
// API, so the scripts run under real k6 and under tests/k6/runner alike.
//
// A secure cluster (HTTPS with a private CA, ACL tokens):
//   CHORUS_TOKEN   an ACL token; withAuth() puts "Authorization: Bearer <token>" on every request,
//                  as a secure node refuses everything but /v1/health and /v1/ready without one.
//   CHORUS_CACERT  the PEM CA of https:// CHORUS_URLS. A script cannot hand k6 a CA (k6 verifies
//                  against the system store, or SSL_CERT_FILE), so the scripts never read it:
//                  the runner trusts it (as with --cacert); under real k6 set SSL_CERT_FILE.
import http from 'k6/http';
import { sleep } from 'k6';

// The nodes of `./dev.sh cluster`.
export const kDefaultUrls = 'http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083';
export const kJsonParams = { headers: { 'Content-Type': 'application/json' } };

// `params` with the CHORUS_TOKEN bearer header added to its headers (other headers and params
// such as tags, timeout and responseCallback kept); `params` itself without a token. Every
// request of the scripts goes through it, so none reaches a secure node unauthenticated.
export function withAuth(params = {}) {
  const token = __ENV.CHORUS_TOKEN;
  if (!token) return params;
  return { ...params, headers: { ...params.headers, Authorization: `Bearer ${token}` } };
}

// CHORUS_URLS: comma-separated base URLs, one per node.
export function targets() {
  const urls = (__ENV.CHORUS_URLS || kDefaultUrls)
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter((u) => u.length > 0);
  if (urls.length === 0) throw new Error('CHORUS_URLS lists no node');
  return urls;
}

export function envInt(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, not ${raw}`);
  }
  return value;
}

export function envNumber(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${name} must be a non-negative number, not ${raw}`);
  }
  return value;
}

export function envString(name, fallback) {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

// A prefix unique to this run, so runs against the same cluster never read each other's keys.
export function newRunId() {
  return `k6-${Date.now().toString(36)}-${Math.floor(Math.random() * 0xffffffff).toString(36)}`;
}

// /v1/kv/<key>[?query]; keys are percent-encoded path segments ("a/b" travels as a%2Fb).
export function kvUrl(base, key, query) {
  return `${base}/v1/kv/${encodeURIComponent(key)}${query ? `?${query}` : ''}`;
}

// A printable value of about `bytes` bytes that names its writer.
export function makeValue(tag, bytes) {
  const head = `${tag}:`;
  return head.length >= bytes ? head : head + 'x'.repeat(bytes - head.length);
}

// Polls GET /v1/ready on every node until all answer 200; throws (failing setup) otherwise.
export function waitReady(urls, timeoutS = envNumber('READY_TIMEOUT_S', 30)) {
  const pollS = 0.25;
  const deadline = Date.now() + timeoutS * 1000;
  for (const url of urls) {
    for (;;) {
      const r = http.get(
        `${url}/v1/ready`,
        withAuth({ timeout: '2s', responseCallback: http.expectedStatuses(200, 503) }),
      );
      if (r.status === 200) break;
      if (Date.now() > deadline) {
        const last = `${r.status} ${r.error || r.body}`;
        throw new Error(`${url} is not ready after ${timeoutS}s (last answer: ${last})`);
      }
      sleep(pollS);
    }
  }
}

// What every script's setup() returns: the targets, once all are ready, and this run's key prefix.
export function startRun() {
  const urls = targets();
  waitReady(urls);
  return { urls, run: newRunId() };
}

// The service-level thresholds load.js and soak.js share: under 1 % failed requests, p(99) under
// P99_MS, over 99 % of checks passing.
export const kSummaryTrendStats = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'];
export function serviceThresholds() {
  return {
    http_req_failed: ['rate<0.01'],
    http_req_duration: [`p(99)<${envInt('P99_MS', 500)}`],
    checks: ['rate>0.99'],
  };
}
