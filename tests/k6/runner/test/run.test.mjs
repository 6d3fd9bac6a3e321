// End-to-end: the runner as a child process against a local server, checking exit codes, the
// summary export and what the server saw.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';

import {
  closedPort,
  explain,
  runK6,
  script,
  selfSignedCertificate,
  startK6,
  startServer,
} from './helpers.mjs';

function handler(req, body, res) {
  const url = new URL(req.url, 'http://x');
  const send = (status, type, data) => {
    res.writeHead(status, { 'content-type': type });
    res.end(data);
  };
  switch (url.pathname) {
    case '/json':
      return send(200, 'application/json', JSON.stringify({ name: 'chorus', list: [1, 2, 3] }));
    case '/echo':
      return send(
        200,
        'application/json',
        JSON.stringify({
          method: req.method,
          body: body.toString('utf8'),
          base64: body.toString('base64'),
          type: req.headers['content-type'] || '',
        }),
      );
    case '/bytes':
      return send(200, 'application/octet-stream', Buffer.from([0, 1, 2, 255]));
    case '/hang':
      return undefined; // answered never; the server destroys it on close
    case '/missing':
      return send(404, 'application/json', '{"error":"not_found"}');
    default:
      return send(200, 'text/plain', 'ok');
  }
}

// The values of query parameter `name` in the requests the server saw, in arrival order.
function queryValues(server, name) {
  return server.requests.map((r) => new URL(r.url, 'http://x').searchParams.get(name));
}

async function withServer(fn) {
  const server = await startServer(handler);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

test('checks are counted per name and group; a passing threshold exits 0', async () => {
  const run = await runK6([script('checks.js')]);
  assert.equal(run.code, 0, explain(run));
  const root = run.summary.root_group;
  assert.deepEqual([root.checks.always.passes, root.checks.always.fails], [10, 0]);
  const even = root.groups.numbers.checks['even iteration'];
  assert.deepEqual([even.passes, even.fails], [5, 5]);
  assert.deepEqual([run.summary.metrics.checks.passes, run.summary.metrics.checks.fails], [15, 5]);
  assert.equal(run.summary.metrics.checks.thresholds['rate>0.4'], false); // k6: true = crossed
  assert.match(run.stdout, /✓ always/);
  assert.match(run.stdout, /✗ even iteration/);
  assert.match(run.stdout, /↳ {2}50% — ✓ 5 \/ ✗ 5/);
});

test('a crossed threshold exits 99 and says which', async () => {
  const run = await runK6(['-e', 'CHECKS_THRESHOLD=rate>0.9', script('checks.js')]);
  assert.equal(run.code, 99, explain(run));
  assert.equal(run.summary.metrics.checks.thresholds['rate>0.9'], true);
  assert.match(run.stdout, /✗ 'rate>0\.9' rate=75\.00%/);
  assert.match(run.stderr, /thresholds on metrics 'checks' have been crossed/);
});

test('Trend percentiles follow k6, and thresholds on them pass or fail', async () => {
  const pass = await runK6([script('trend.js')]);
  assert.equal(pass.code, 0, explain(pass));
  const values = pass.summary.metrics.values;
  assert.ok(Math.abs(values['p(95)'] - 95.05) < 1e-9, JSON.stringify(values));
  assert.ok(Math.abs(values['p(90)'] - 90.1) < 1e-9, JSON.stringify(values));
  assert.deepEqual([values.min, values.med, values.max, values.avg], [1, 50.5, 100, 50.5]);
  const fail = await runK6(['-e', 'P95_LIMIT=95', script('trend.js')]);
  assert.equal(fail.code, 99, explain(fail));
  assert.equal(fail.summary.metrics.values.thresholds['p(95)<95'], true);
  assert.equal(fail.summary.metrics.values.thresholds['max<=100'], false);
});

test('shared iterations run exactly as many times as asked, each index once', async () => {
  await withServer(async (server) => {
    const run = await runK6(['-e', `BASE_URL=${server.url}`, script('iterations.js')]);
    assert.equal(run.code, 0, explain(run));
    assert.equal(run.summary.metrics.iterations.count, 17);
    assert.equal(run.summary.metrics.http_reqs.count, 17);
    const seen = queryValues(server, 'i').map(Number);
    assert.deepEqual(seen.sort((a, b) => a - b), [...Array(17).keys()]);
    const vus = new Set(queryValues(server, 'vu'));
    assert.ok([...vus].every((v) => ['1', '2', '3'].includes(v)), [...vus].join());
  });
});

test('--iterations and --vus on the command line override the script', async () => {
  await withServer(async (server) => {
    const flags = ['--iterations', '5', '--vus', '1'];
    const run = await runK6(['-e', `BASE_URL=${server.url}`, ...flags, script('iterations.js')]);
    assert.equal(run.code, 0, explain(run));
    assert.equal(run.summary.metrics.iterations.count, 5);
    assert.deepEqual(new Set(queryValues(server, 'vu')), new Set(['1']));
  });
});

test('stages ramp the VUs up to the target', async () => {
  await withServer(async (server) => {
    const run = await runK6(['-e', `BASE_URL=${server.url}`, script('stages.js')]);
    assert.equal(run.code, 0, explain(run));
    assert.equal(run.summary.metrics.vus.max, 4);
    assert.equal(run.summary.metrics.vus_max.value, 4);
    const ids = new Set(queryValues(server, 'id'));
    assert.deepEqual([...ids].sort(), ['1', '2', '3', '4']);
    // VU 4 joins last (about 1 s in), so VU 1 has done more iterations than VU 4.
    const count = (id) => server.requests.filter((r) => r.url.endsWith(`id=${id}`)).length;
    assert.ok(count(1) > count(4), `VU 1 made ${count(1)} requests, VU 4 ${count(4)}`);
  });
});

test('synchronous HTTP returns status, body, headers, json(); local imports resolve', async () => {
  await withServer(async (server) => {
    const run = await runK6(['-e', `BASE_URL=${server.url}`, script('http.js')]);
    assert.equal(run.code, 0, explain(run));
    const metrics = run.summary.metrics;
    assert.equal(metrics.checks.fails, 0, explain(run));
    assert.equal(metrics.checks.passes, 13);
    assert.equal(metrics.http_reqs.count, 9);
    // Only the deliberate timeout failed; the 404 was declared expected.
    assert.equal(metrics.http_req_failed.passes, 1);
    assert.equal(metrics['http_req_failed{name:expected}'].value, 0);
    assert.ok(metrics.data_sent.count > 0 && metrics.data_received.count > 0);
    assert.match(run.stderr, /request timeout/);
  });
});

test('connection refused gives status 0 and counts in http_req_failed', async () => {
  const port = await closedPort();
  const run = await runK6(['-e', `CLOSED_PORT=${port}`, script('refused.js')]);
  assert.equal(run.code, 0, explain(run));
  assert.equal(run.summary.metrics.http_req_failed.value, 1);
  assert.equal(run.summary.metrics.http_req_failed.passes, 3);
  assert.equal(run.summary.metrics.checks.fails, 0, explain(run));
});

test('--cacert, or CHORUS_CACERT in the env, makes https trust a private CA', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k6-runner-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certificate = selfSignedCertificate(dir);
  if (certificate === null) {
    t.skip('openssl is not installed');
    return;
  }
  const server = await startServer((req, body, res) => res.end('ok'), certificate);
  t.after(() => server.close());
  const notCa = path.join(dir, 'not-a-ca.pem');
  fs.writeFileSync(notCa, 'no certificate here\n');
  const base = ['-e', `BASE_URL=${server.url}`];
  const [untrusted, flag, env, missing, empty] = await Promise.all([
    runK6([...base, script('tls.js')]),
    runK6([...base, '--cacert', certificate.certPath, script('tls.js')]),
    runK6([...base, '-e', `CHORUS_CACERT=${certificate.certPath}`, script('tls.js')]),
    runK6([...base, '--cacert', path.join(dir, 'missing.pem'), script('tls.js')]),
    runK6([...base, '-e', `CHORUS_CACERT=${notCa}`, script('tls.js')]),
  ]);
  // Node's own roots do not vouch for the server: the check fails and the error says why.
  assert.equal(untrusted.code, 99, explain(untrusted));
  assert.match(untrusted.stderr, /self[- ]signed certificate/);
  assert.equal(flag.code, 0, explain(flag));
  assert.equal(flag.summary.metrics.checks.passes, 1);
  assert.equal(env.code, 0, explain(env));
  assert.equal(env.summary.metrics.checks.passes, 1);
  // A CA that cannot be used stops the run before any request (exit 104, k6's bad options).
  assert.equal(missing.code, 104, explain(missing));
  assert.match(missing.stderr, /--cacert .*missing\.pem: cannot read the CA file: ENOENT/);
  assert.equal(empty.code, 104, explain(empty));
  assert.match(empty.stderr, /CHORUS_CACERT=.*not-a-ca\.pem: no PEM certificate in the CA file/);
  assert.equal(server.requests.length, 2);
});

test('an error in the init context exits 107', async () => {
  const run = await runK6([script('init_error.js')]);
  assert.equal(run.code, 107, explain(run));
  assert.match(run.stderr, /broken init function/);
  const unknown = await runK6([script('unknown_module.js')]);
  assert.equal(unknown.code, 107, explain(unknown));
  assert.match(unknown.stderr, /"k6\/ws" is not implemented/);
  const missing = await runK6([script('no_such_script.js')]);
  assert.equal(missing.code, 107, explain(missing));
});

test('an exception in an iteration is logged and the run goes on', async () => {
  const run = await runK6([script('iteration_error.js')]);
  assert.equal(run.code, 0, explain(run));
  assert.equal(run.summary.metrics.iterations.count, 4);
  assert.match(run.stderr, /ERRO\[\d+\] Error: iteration zero fails on purpose/);
  assert.match(run.stderr, /iteration_error\.js:5/);
});

test('exec.test.abort() exits 108 long before the duration ends', async () => {
  const run = await runK6([script('abort.js')], { deadlineMs: 10_000 });
  assert.equal(run.code, 108, explain(run));
  assert.match(run.stderr, /test aborted by the script: enough/);
});

test('a threshold on an unknown metric is a config error (104)', async () => {
  const run = await runK6([script('bad_threshold.js')]);
  assert.equal(run.code, 104, explain(run));
  assert.match(run.stderr, /no_such_metric/);
});

test('--stage flags replace the stages of the script', async () => {
  await withServer(async (server) => {
    const stages = ['--stage', '500ms:2', '--stage', '500ms:2'];
    const run = await runK6(['-e', `BASE_URL=${server.url}`, ...stages, script('stages.js')]);
    assert.equal(run.code, 0, explain(run));
    assert.equal(run.summary.metrics.vus.max, 2);
    const ids = new Set(queryValues(server, 'id'));
    assert.deepEqual([...ids].sort(), ['1', '2']);
  });
});

test('SIGINT stops a running test, prints the summary and exits 105', async () => {
  let firstRequest;
  const seen = new Promise((resolve) => {
    firstRequest = resolve;
  });
  const server = await startServer((req, body, res) => {
    firstRequest();
    res.end('ok');
  });
  try {
    const args = ['-e', `BASE_URL=${server.url}`, '--duration', '60s', script('stages.js')];
    const { child, result } = startK6(args);
    await seen; // the test is running once a VU's request arrived
    child.kill('SIGINT');
    const run = await result;
    assert.equal(run.code, 105, explain(run));
    assert.match(run.stdout, /http_reqs\.+: \d+/);
    assert.ok(run.summary.metrics.http_reqs.count >= 1);
  } finally {
    await server.close();
  }
});

test('an unknown flag is a usage error', async () => {
  const run = await runK6(['--no-such-flag', script('trend.js')]);
  assert.equal(run.code, 255, explain(run));
  assert.match(run.stderr, /unknown flag: --no-such-flag/);
});
