// The HTTP side of the VUs, run on the main thread: a VU posts a request description, blocks in
// Atomics.wait, and this module performs the request with node:http(s), records k6's http_*
// metrics and returns a plain response object (see vu.mjs for the other half).
//
// Each VU has its own keep-alive agent, as each k6 VU has its own connection pool. Every request
// has a deadline (params.timeout, default 60 s) covering connect, send and the whole body, and a
// body size limit; failures come back as status 0 with k6's error_code numbers.

import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

import {
  kBatchParallelDefault,
  kFreeSocketIdleMs,
  kFreeSocketsPerVu,
  kRedirectsMaxDefault,
  kResponseBodyBytesMax,
} from './limits.mjs';

export const kUserAgent = 'chorus-k6-runner/1.0 (k6-compatible)';

// k6's error codes (https://grafana.com/docs/k6/latest/javascript-api/error-codes/).
const kErrorCodes = {
  generic: 1000,
  invalidUrl: 1020,
  timeout: 1050,
  dnsGeneric: 1100,
  noSuchHost: 1101,
  tcpGeneric: 1200,
  brokenPipe: 1201,
  dialGeneric: 1210,
  dialTimeout: 1211,
  connectionRefused: 1212,
  connectionReset: 1220,
};

const kRedirectStatuses = new Set([301, 302, 303, 307, 308]);

class RequestError extends Error {
  constructor(code, message) {
    super(message);
    this.k6Code = code;
  }
}

// A Node error -> [k6 error_code, k6-like message].
function classify(error, url) {
  if (error instanceof RequestError) return [error.k6Code, error.message];
  const hostPort = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
  switch (error.code) {
    case 'ECONNREFUSED':
      return [kErrorCodes.connectionRefused, `dial tcp ${hostPort}: connect: connection refused`];
    case 'ECONNRESET':
      return [kErrorCodes.connectionReset, `read tcp ${hostPort}: connection reset by peer`];
    case 'EPIPE':
      return [kErrorCodes.brokenPipe, `write tcp ${hostPort}: broken pipe`];
    case 'ENOTFOUND':
      return [kErrorCodes.noSuchHost, `lookup ${url.hostname}: no such host`];
    case 'EAI_AGAIN':
      return [kErrorCodes.dnsGeneric, `lookup ${url.hostname}: ${error.message}`];
    case 'ETIMEDOUT':
      return [kErrorCodes.dialTimeout, `dial tcp ${hostPort}: i/o timeout`];
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return [kErrorCodes.dialGeneric, `dial tcp ${hostPort}: ${error.message}`];
    default:
      return [error.code ? kErrorCodes.tcpGeneric : kErrorCodes.generic, error.message];
  }
}

// "content-type" -> "Content-Type", like Go's textproto.CanonicalMIMEHeaderKey.
function canonicalHeader(name) {
  return name
    .toLowerCase()
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('-');
}

function responseHeaders(rawHeaders) {
  const headers = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = canonicalHeader(rawHeaders[i]);
    const value = rawHeaders[i + 1];
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  return headers;
}

function bodyBuffer(body) {
  if (body == null) return null;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Buffer.from(String(body), 'utf8');
}

// The roots the https agents trust with --cacert FILE: Node's bundled roots (tls.rootCertificates,
// which leaves out NODE_EXTRA_CA_CERTS) plus every PEM certificate in FILE. Node's `ca` option
// replaces its roots rather than adding to them, hence both. Throws an Error starting with `label`
// (how the user named the file) when the file cannot be read or holds no valid certificate, so
// that a wrong path fails the run at start, not as a TLS error on every request.
export function trustedRoots(file, label = file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${label}: cannot read the CA file: ${error.message}`);
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`${label}: no PEM certificate in the CA file`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem); // parsed only to be checked
    } catch (error) {
      throw new Error(`${label}: a certificate in the CA file does not parse: ${error.message}`);
    }
  }
  return [...tls.rootCertificates, ...pems];
}

function isExpected(expected, status) {
  return expected.some(([min, max]) => status >= min && status <= max);
}

export class HttpBridge {
  // registry: metrics.Registry; warn(message): rate-limited warning log; options: the test's
  // options (noConnectionReuse, insecureSkipTLSVerify, maxRedirects, batch); ca: the roots https
  // trusts (trustedRoots()), or null for Node's.
  constructor(registry, warn, options = {}, ca = null) {
    this.registry = registry;
    this.warn = warn;
    this.options = options;
    this.ca = ca;
    this.agents = new Map(); // VU key -> { http, https }
    // Keys of VU threads that were terminated: their late answers are not recorded.
    this.released = new Set();
  }

  // `key` names one VU thread ("<vu id>:<generation>"): a VU replaced after an interrupted
  // iteration gets a new key, so the old thread's requests cannot be confused with the new one's.
  agentsFor(key) {
    let agents = this.agents.get(key);
    if (agents === undefined) {
      const common = {
        keepAlive: !this.options.noConnectionReuse,
        maxFreeSockets: kFreeSocketsPerVu,
        timeout: kFreeSocketIdleMs, // the agent closes free sockets idle this long
        scheduling: 'lifo',
      };
      agents = {
        http: new http.Agent(common),
        https: new https.Agent({
          ...common,
          rejectUnauthorized: !this.options.insecureSkipTLSVerify,
          ...(this.ca !== null && { ca: this.ca }),
        }),
      };
      this.agents.set(key, agents);
    }
    return agents;
  }

  // Closes a VU thread's connections; requests still in flight fail unrecorded.
  release(key) {
    this.released.add(key);
    const agents = this.agents.get(key);
    if (agents === undefined) return;
    agents.http.destroy();
    agents.https.destroy();
    this.agents.delete(key);
  }

  releaseAll() {
    for (const key of [...this.agents.keys()]) this.release(key);
  }

  // Runs requests with at most `parallel` in flight; answers in request order.
  async batch(key, requests, parallel = this.options.batch || kBatchParallelDefault) {
    const responses = new Array(requests.length);
    let next = 0;
    const lane = async () => {
      while (next < requests.length) {
        const index = next++;
        responses[index] = await this.request(key, requests[index]);
      }
    };
    const lanes = [];
    for (let i = 0; i < Math.min(parallel, requests.length); i++) lanes.push(lane());
    await Promise.all(lanes);
    return responses;
  }

  // One k6 request, following redirects; never rejects.
  async request(key, req) {
    let url;
    try {
      url = new URL(req.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new Error(`unsupported protocol scheme "${url.protocol.replace(':', '')}"`);
      }
    } catch (error) {
      const message = `invalid URL: ${error.message}`;
      return this.failure(key, req, req.url, kErrorCodes.invalidUrl, message);
    }
    const deadline = performance.now() + req.timeoutMs;
    const redirectsMax = req.redirects ?? this.options.maxRedirects ?? kRedirectsMaxDefault;
    let method = req.method;
    let body = bodyBuffer(req.body);
    for (let hop = 0; ; hop++) {
      const response = await this.once(key, req, url, method, body, deadline);
      this.record(key, req, response, method);
      const location = response.headers.Location;
      if (!kRedirectStatuses.has(response.status) || !location || hop >= redirectsMax) {
        if (hop >= redirectsMax && kRedirectStatuses.has(response.status) && location) {
          this.warn(`Stopped after ${redirectsMax} redirects and returned the redirection`);
        }
        return response;
      }
      url = new URL(location, url);
      // Like Go's client (and so k6): 303, and 301/302 after a POST, continue as a bodiless GET.
      const status = response.status;
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
        method = 'GET';
        body = null;
      }
    }
  }

  failure(key, req, url, code, message) {
    const response = emptyResponse(req, String(url));
    response.error = message;
    response.error_code = code;
    this.record(key, req, response, req.method);
    return response;
  }

  // One HTTP exchange. Resolves with a response object (status 0 and error on failure).
  once(key, req, url, method, body, deadline) {
    return new Promise((resolve) => {
      const isHttps = url.protocol === 'https:';
      const agents = this.agentsFor(key);
      const headers = { 'User-Agent': kUserAgent, ...req.headers };
      if (body !== null) headers['Content-Length'] = String(body.length);
      const exchange = new Exchange(req, url, method, headers, resolve);
      let request;
      try {
        request = (isHttps ? https : http).request(url, {
          method,
          headers,
          agent: isHttps ? agents.https : agents.http,
        });
      } catch (error) {
        // Bad header names or values are the script's mistake: reported like a failed request.
        exchange.finish(new RequestError(kErrorCodes.generic, error.message));
        return;
      }
      exchange.attach(request, deadline);
      request.end(body ?? undefined);
    });
  }

  // k6's http_* metrics for one exchange.
  record(key, req, response, method) {
    if (this.released.has(key)) return;
    const tags = {
      scenario: 'default',
      group: req.group || '',
      method,
      url: response.url,
      name: req.name ?? response.url,
      status: String(response.status),
      proto: response.proto || '',
      ...req.tags,
    };
    if (response.error_code) tags.error_code = String(response.error_code);
    let failed = null;
    if (req.expected !== null) {
      failed = !isExpected(req.expected, response.status);
      tags.expected_response = String(!failed);
    }
    const add = (name, value) => this.registry.add(name, value, tags);
    add('http_reqs', 1);
    add('http_req_duration', response.timings.duration);
    add('http_req_blocked', response.timings.blocked);
    add('http_req_connecting', response.timings.connecting);
    add('http_req_tls_handshaking', response.timings.tls_handshaking);
    add('http_req_sending', response.timings.sending);
    add('http_req_waiting', response.timings.waiting);
    add('http_req_receiving', response.timings.receiving);
    if (failed !== null) add('http_req_failed', failed ? 1 : 0);
    if (response.bytesSent) add('data_sent', response.bytesSent);
    if (response.bytesReceived) add('data_received', response.bytesReceived);
    delete response.bytesSent;
    delete response.bytesReceived;
    if (response.error) this.warn(`Request Failed error="${response.error}"`);
  }
}

function emptyResponse(req, url) {
  return {
    status: 0,
    status_text: '',
    proto: '',
    url,
    body: null,
    headers: {},
    timings: {
      blocked: 0,
      connecting: 0,
      tls_handshaking: 0,
      sending: 0,
      waiting: 0,
      receiving: 0,
      duration: 0,
    },
    error: '',
    error_code: 0,
    remote_ip: '',
    remote_port: 0,
    request: { method: req.method, url, headers: req.headers || {}, body: '' },
  };
}

// One request/response on the wire: its timings (k6's phases), its body within the size limit,
// its deadline, and how it ended. finish() resolves exactly once.
class Exchange {
  constructor(req, url, method, headers, resolve) {
    this.req = req;
    this.url = url;
    this.isHttps = url.protocol === 'https:';
    this.resolve = resolve;
    this.response = emptyResponse(req, url.href);
    this.response.request = { method, url: url.href, headers, body: '' };
    this.t = { start: performance.now() };
    this.socket = null;
    this.done = false;
    this.timer = null;
    // Set when this side aborts the exchange; it then wins over the socket errors that follow.
    this.abortError = null;
  }

  attach(request, deadline) {
    this.request = request;
    this.timer = setTimeout(
      () => this.abort(kErrorCodes.timeout, 'request timeout'),
      Math.max(0, deadline - this.t.start),
    );
    request.on('socket', (socket) => this.onSocket(socket));
    request.on('finish', () => {
      this.t.sent = performance.now();
    });
    request.on('error', (error) => this.finish(error));
    request.on('response', (res) => this.onResponse(res));
  }

  abort(code, message) {
    this.abortError ??= new RequestError(code, message);
    this.request.destroy(this.abortError);
  }

  onSocket(socket) {
    const t = this.t;
    this.socket = socket;
    this.readBase = socket.bytesRead;
    this.writtenBase = socket.bytesWritten;
    t.socket = performance.now();
    if (!socket.connecting) {
      // A kept-alive connection: no connect, no handshake.
      t.connected = t.socket;
      t.secured = t.socket;
      return;
    }
    socket.once('connect', () => {
      t.connected = performance.now();
      if (!this.isHttps) t.secured = t.connected;
    });
    if (this.isHttps) {
      socket.once('secureConnect', () => {
        t.secured = performance.now();
      });
    }
  }

  onResponse(res) {
    const response = this.response;
    this.t.firstByte = performance.now();
    response.status = res.statusCode;
    response.status_text = `${res.statusCode} ${res.statusMessage || ''}`.trim();
    response.proto = `HTTP/${res.httpVersion}`;
    response.headers = responseHeaders(res.rawHeaders);
    const chunks = [];
    let bytes = 0;
    res.on('data', (chunk) => {
      bytes += chunk.length;
      if (bytes > kResponseBodyBytesMax) {
        this.abort(kErrorCodes.generic, `response body exceeds ${kResponseBodyBytesMax} bytes`);
      } else if (this.req.responseType !== 'none') {
        chunks.push(chunk);
      }
    });
    res.on('error', (error) => this.finish(error));
    res.on('end', () => {
      const all = Buffer.concat(chunks);
      if (this.req.responseType === 'none') response.body = null;
      else if (this.req.responseType === 'binary') {
        response.body = all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
      } else response.body = all.toString('utf8');
      this.finish(null);
    });
  }

  // k6's phases. Phases that never happened take no time, except the one the exchange died in.
  timings(end) {
    const t = this.t;
    const socket = t.socket ?? end;
    const connected = t.connected ?? end;
    const secured = t.secured ?? end;
    const sent = t.sent ?? end;
    const firstByte = t.firstByte ?? end;
    const timings = {
      blocked: socket - t.start,
      connecting: connected - socket,
      tls_handshaking: secured - connected,
      sending: Math.max(0, sent - secured),
      waiting: Math.max(0, firstByte - sent),
      receiving: Math.max(0, end - firstByte),
    };
    timings.duration = timings.sending + timings.waiting + timings.receiving;
    return timings;
  }

  finish(socketError) {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    const response = this.response;
    response.timings = this.timings(performance.now());
    if (this.socket !== null && this.t.connected !== undefined) {
      response.bytesSent = Math.max(0, this.socket.bytesWritten - this.writtenBase);
      response.bytesReceived = Math.max(0, this.socket.bytesRead - this.readBase);
      response.remote_ip = this.socket.remoteAddress || '';
      response.remote_port = this.socket.remotePort || 0;
    }
    const error = this.abortError ?? socketError;
    if (error) {
      const [code, message] = classify(error, this.url);
      response.status = 0;
      response.status_text = '';
      response.body = null;
      response.error = message;
      response.error_code = code;
    }
    this.resolve(response);
  }
}
