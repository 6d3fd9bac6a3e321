// Test helpers: a local HTTP(S) server on 127.0.0.1 (port 0), a self-signed certificate for it,
// and a way to run the runner as a child process with a deadline.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const kRunner = path.join(here, '..', 'k6.mjs');
export const kRunDeadlineMs = 20_000;

export function script(name) {
  return path.join(here, '..', 'fixtures', name);
}

// Starts a server; handler(req, body, res) answers. Returns { url, port, requests, close }.
// Requests whose handler never answers are held until close(). With `tls` ({ key, cert }, PEM) it
// speaks HTTPS.
export async function startServer(handler, tls = null) {
  const held = new Set();
  const requests = [];
  const onRequest = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      held.add(res);
      res.on('close', () => held.delete(res));
      handler(req, body, res);
    });
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// A self-signed certificate for 127.0.0.1, made by the openssl CLI in `dir` (Node cannot issue
// one): { key, cert } PEM texts and certPath, the certificate's file, which is its own CA. null
// when openssl is not installed.
export function selfSignedCertificate(dir) {
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  const args = ['req', '-x509', '-nodes', '-days', '1', '-keyout', keyPath, '-out', certPath];
  args.push('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1');
  args.push('-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    if (error.code === 'ENOENT') return null;
    throw error;
  }
  return {
    key: fs.readFileSync(keyPath, 'utf8'),
    cert: fs.readFileSync(certPath, 'utf8'),
    certPath,
  };
}

// A port nothing listens on: bound, then released.
export async function closedPort() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Starts `node k6.mjs run <args>`; returns { child, result } where result resolves
// { code, stdout, stderr, summary } (summary: the parsed --summary-export document, which the
// helper always asks for) and rejects at the deadline, after killing the runner.
export function startK6(args, { deadlineMs = kRunDeadlineMs } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k6-runner-test-'));
  const exportPath = path.join(dir, 'summary.json');
  const child = spawn(process.execPath, [kRunner, 'run', '--summary-export', exportPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`runner still running after ${deadlineMs} ms\n${stdout}\n${stderr}`));
    }, deadlineMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      let summary = null;
      if (fs.existsSync(exportPath)) summary = JSON.parse(fs.readFileSync(exportPath, 'utf8'));
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr, summary });
    });
  });
  return { child, result };
}

export function runK6(args, options) {
  return startK6(args, options).result;
}

// Renders a run for assertion messages.
export function explain(run) {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}
