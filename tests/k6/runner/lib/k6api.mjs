// The k6 JavaScript API as seen by a script in one VU: the modules k6, k6/http, k6/metrics,
// k6/execution and k6/encoding. `vu` is the VU runtime of vu.mjs (its id, iteration, group path,
// sample buffer and synchronous HTTP round trip).

import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { parseDuration } from './durations.mjs';
import { kBatchRequestsMax, kRequestTimeoutDefaultMs, kRequestTimeoutMaxMs } from './limits.mjs';
import { validMetricName } from './metrics.mjs';

// Thrown by exec.test.abort(): ends the iteration and, through the main thread, the test.
export class TestAbort extends Error {
  constructor(reason) {
    super(reason ? `test aborted: ${reason}` : 'test aborted');
    this.name = 'TestAbort';
    this.reason = reason || '';
  }
}

// k6's default for http_req_failed: 2xx and 3xx are expected.
export const kDefaultExpected = Object.freeze([[200, 399]]);
const kExpectedMarker = Symbol('k6 expected statuses');

export function buildModules(vu) {
  return {
    k6: coreModule(vu),
    'k6/http': httpModule(vu),
    'k6/metrics': metricsModule(vu),
    'k6/execution': { default: executionModule(vu) },
    'k6/encoding': encodingModule(),
  };
}

function coreModule(vu) {
  const group = (name, fn) => {
    if (typeof name !== 'string' || name.includes('::')) {
      throw new Error("group names must be strings without '::'");
    }
    if (vu.inInit) throw new Error('group() is only available in VU code, not in the init context');
    const parent = vu.groupPath;
    vu.groupPath = `${parent}::${name}`;
    const start = performance.now();
    try {
      return fn();
    } finally {
      vu.emit('group_duration', performance.now() - start, { group: vu.groupPath });
      vu.groupPath = parent;
    }
  };
  const check = (value, checks, tags) => {
    if (vu.inInit) throw new Error('check() is only available in VU code, not in the init context');
    let all = true;
    for (const [name, condition] of Object.entries(checks || {})) {
      if (name.includes('::')) throw new Error("check names may not contain '::'");
      const passed = Boolean(typeof condition === 'function' ? condition(value) : condition);
      vu.emit('checks', passed ? 1 : 0, { ...(tags || {}), check: name, group: vu.groupPath });
      all = all && passed;
    }
    return all;
  };
  const sleep = (seconds) => {
    const ms = Number(seconds) * 1000;
    if (!(ms > 0)) return;
    Atomics.wait(vu.sleeper, 0, 0, ms);
  };
  const fail = (message) => {
    throw new Error(message === undefined ? 'fail' : String(message));
  };
  const randomSeed = (seed) => {
    let a = Number(seed) >>> 0;
    Math.random = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  };
  return { check, fail, group, randomSeed, sleep };
}

class Response {
  constructor(raw) {
    Object.assign(this, raw);
    this.cookies = {};
  }
  // k6: parses the body; with a selector, a gjson-like path ("a.b", "items.0.id", "items.#").
  json(selector) {
    if (this.body === null || this.body === undefined) {
      throw new Error('the body is null, so json() cannot parse it');
    }
    const body = this.body;
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    let value = JSON.parse(text);
    if (selector === undefined || selector === null || selector === '') return value;
    for (const part of String(selector).split('.')) {
      if (value === null || value === undefined) return undefined;
      value = part === '#' && Array.isArray(value) ? value.length : value[part];
    }
    return value;
  }
  html() {
    throw new Error('Response.html() is not supported by this runner');
  }
}

function formEncode(object) {
  return Object.entries(object)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
}

// ArrayBuffer, typed array or string; plain objects are form-encoded like k6 does.
function requestBody(body, headers) {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return body.slice(0);
  if (ArrayBuffer.isView(body)) {
    return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
  }
  if (typeof body === 'object') {
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    return formEncode(body);
  }
  return String(body);
}

function expectedRanges(callback) {
  if (callback === null) return null;
  if (callback && callback[kExpectedMarker]) return callback[kExpectedMarker];
  throw new Error('responseCallback must be http.expectedStatuses(...) or null in this runner');
}

function timeoutMs(value) {
  if (value === undefined || value === null) return kRequestTimeoutDefaultMs;
  const ms = parseDuration(value, 'timeout');
  if (ms <= 0 || ms > kRequestTimeoutMaxMs) {
    throw new Error(`timeout must be in (0, ${kRequestTimeoutMaxMs}] ms`);
  }
  return ms;
}

function httpModule(vu) {
  const describe = (method, url, body, params) => {
    if (vu.inInit) {
      throw new Error('HTTP requests cannot be made in the init context (in k6 neither)');
    }
    const p = params || {};
    const headers = {};
    for (const [k, v] of Object.entries(p.headers || {})) headers[k] = String(v);
    const tags = {};
    for (const [k, v] of Object.entries(p.tags || {})) tags[k] = String(v);
    const responseType = p.responseType || 'text';
    if (!['text', 'binary', 'none'].includes(responseType)) {
      throw new Error(`responseType must be text, binary or none, not ${responseType}`);
    }
    return {
      method: String(method).toUpperCase(),
      url: String(url),
      body: requestBody(body, headers),
      headers,
      tags,
      name: tags.name,
      group: vu.groupPath,
      timeoutMs: timeoutMs(p.timeout),
      responseType,
      redirects: p.redirects,
      expected: p.responseCallback !== undefined ? expectedRanges(p.responseCallback) : vu.expected,
    };
  };
  const one = (method, url, body, params) =>
    new Response(vu.roundTrip([describe(method, url, body, params)])[0]);

  const batch = (requests) => {
    const keys = Array.isArray(requests) ? null : Object.keys(requests);
    const list = keys === null ? requests : keys.map((k) => requests[k]);
    if (list.length > kBatchRequestsMax) {
      throw new Error(`http.batch takes at most ${kBatchRequestsMax} requests`);
    }
    const described = list.map((r) => {
      if (typeof r === 'string') return describe('GET', r, null, undefined);
      if (Array.isArray(r)) return describe(r[0], r[1], r[2], r[3]);
      return describe(r.method || 'GET', r.url, r.body, r.params);
    });
    const responses = vu.roundTrip(described).map((raw) => new Response(raw));
    if (keys === null) return responses;
    return Object.fromEntries(keys.map((k, i) => [k, responses[i]]));
  };

  const expectedStatuses = (...statuses) => {
    const ranges = statuses.map((s) => {
      if (Number.isInteger(s)) return [s, s];
      if (s && Number.isInteger(s.min) && Number.isInteger(s.max)) return [s.min, s.max];
      throw new Error('expectedStatuses takes status codes and {min, max} objects');
    });
    return Object.freeze({ [kExpectedMarker]: ranges });
  };

  return {
    get: (url, params) => one('GET', url, null, params),
    head: (url, params) => one('HEAD', url, null, params),
    post: (url, body, params) => one('POST', url, body, params),
    put: (url, body, params) => one('PUT', url, body, params),
    patch: (url, body, params) => one('PATCH', url, body, params),
    del: (url, body, params) => one('DELETE', url, body, params),
    options: (url, body, params) => one('OPTIONS', url, body, params),
    request: (method, url, body, params) => one(method, url, body, params),
    batch,
    expectedStatuses,
    setResponseCallback: (callback) => {
      vu.expected = expectedRanges(callback);
    },
  };
}

function metricsModule(vu) {
  const make = (type) =>
    class {
      constructor(name, isTime = false) {
        if (!vu.inInit) throw new Error('metrics must be declared in the init context');
        if (!validMetricName(name)) {
          throw new Error(
            `invalid metric name '${name}': 1-128 of [a-zA-Z0-9_], not starting with a digit`,
          );
        }
        this.name = name;
        vu.declare(name, type, Boolean(isTime) && (type === 'trend' || type === 'gauge'));
      }
      add(value, tags) {
        if (vu.inInit) throw new Error('metrics cannot be added to in the init context');
        const number = Number(value); // true and false count as 1 and 0
        if (!Number.isFinite(number)) {
          throw new Error(`'${value}' is an invalid value for metric '${this.name}'`);
        }
        const extra = {};
        for (const [k, v] of Object.entries(tags || {})) extra[k] = String(v);
        vu.emit(this.name, number, { ...extra, group: vu.groupPath });
        return true;
      }
    };
  return {
    Counter: make('counter'),
    Gauge: make('gauge'),
    Rate: make('rate'),
    Trend: make('trend'),
  };
}

function executionModule(vu) {
  return {
    get vu() {
      return {
        idInTest: vu.id,
        idInInstance: vu.id,
        iterationInInstance: vu.iteration,
        iterationInScenario: vu.iteration,
        tags: {},
        metrics: { tags: {}, metadata: {} },
      };
    },
    get scenario() {
      const plan = vu.plan || {};
      const elapsed = Date.now() - (plan.startEpochMs || Date.now());
      let progress = 0;
      if (plan.durationMs > 0) progress = Math.min(1, elapsed / plan.durationMs);
      else if (plan.iterations > 0) progress = Math.min(1, vu.completed() / plan.iterations);
      return {
        name: 'default',
        executor: plan.executor || '',
        startTime: plan.startEpochMs || 0,
        progress,
        iterationInInstance: vu.iterationInTest,
        iterationInTest: vu.iterationInTest,
      };
    },
    get instance() {
      return {
        iterationsCompleted: vu.completed(),
        iterationsInterrupted: 0,
        vusActive: vu.vusActive(),
        vusInitialized: vu.plan ? vu.plan.vusMax : 0,
        currentTestRunDuration: vu.plan ? Date.now() - vu.plan.startEpochMs : 0,
      };
    },
    test: {
      abort: (reason) => {
        throw new TestAbort(reason === undefined ? '' : String(reason));
      },
      get options() {
        return vu.options;
      },
    },
  };
}

function encodingModule() {
  const urlSafe = (encoding) => encoding === 'url' || encoding === 'rawurl';
  const alphabet = (encoding) => (urlSafe(encoding) ? 'base64url' : 'base64');
  const unpadded = (encoding) => encoding === 'rawstd' || encoding === 'rawurl';
  const trim = (text, encoding) => (unpadded(encoding) ? text.replace(/=+$/, '') : text);
  return {
    b64encode(input, encoding = 'std') {
      const bytes =
        typeof input === 'string'
          ? Buffer.from(input, 'utf8')
          : Buffer.from(input instanceof ArrayBuffer ? input : input.buffer);
      let text = bytes.toString('base64');
      if (alphabet(encoding) === 'base64url') text = text.replace(/\+/g, '-').replace(/\//g, '_');
      return trim(text, encoding);
    },
    b64decode(input, encoding = 'std', format) {
      const bytes = Buffer.from(String(input), alphabet(encoding));
      if (format === 's') return bytes.toString('utf8');
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    },
  };
}

