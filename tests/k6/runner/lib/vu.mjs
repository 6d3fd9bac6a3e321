// A VU: one worker thread that loads the script (its init context) and then runs setup(),
// teardown() or the default function as the main thread asks.
//
// Synchronous HTTP: k6's http.get() returns the response, so a VU posts the request to the main
// thread, then blocks in Atomics.wait on its control word CTL_RESPONSE_SEQ. The main thread does
// the request, posts the response on this VU's private MessagePort and bumps the word; the VU
// wakes and takes the message with receiveMessageOnPort (synchronous, no event loop needed).
// sleep() is Atomics.wait with a timeout. While iterating a VU never yields to its event loop,
// so the main thread steers it only through shared memory (shared.mjs).

import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

import { buildModules, kDefaultExpected, TestAbort } from './k6api.mjs';
import { kSampleBatchMax, kSetupDataBytesMax } from './limits.mjs';
import { loadScript } from './loader.mjs';
import {
  CTL_RESPONSE_SEQ,
  CTL_STATE,
  G_ABORTED,
  G_ITERATIONS_CLAIMED,
  G_ITERATIONS_COMPLETED,
  G_ITERATIONS_STARTED,
  G_VUS_ACTIVE,
  VU_IDLE,
  VU_STOP,
} from './shared.mjs';

const { scriptPath, env, vuId, control, globals, port } = workerData;

const vu = {
  id: vuId,
  iteration: 0, // __ITER: this VU's iterations so far
  iterationInTest: 0,
  groupPath: '',
  inInit: true,
  expected: kDefaultExpected,
  plan: null,
  options: {},
  samples: [],
  declared: [],
  sleeper: new Int32Array(new SharedArrayBuffer(4)),
  httpSeq: 0,

  declare(name, type, isTime) {
    this.declared.push({ name, type, isTime });
  },
  emit(name, value, tags) {
    this.samples.push([name, value, { scenario: 'default', ...tags }]);
    if (this.samples.length >= kSampleBatchMax) this.flush();
  },
  flush() {
    if (this.samples.length === 0) return;
    parentPort.postMessage({ type: 'samples', samples: this.samples });
    this.samples = [];
  },
  roundTrip(requests) {
    const seq = ++this.httpSeq;
    parentPort.postMessage({ type: 'http', seq, requests });
    for (;;) {
      const seen = Atomics.load(control, CTL_RESPONSE_SEQ);
      const reply = receiveMessageOnPort(port);
      if (reply !== undefined) {
        if (reply.message.seq !== seq) {
          throw new Error(`HTTP reply ${reply.message.seq} for request ${seq}`);
        }
        return reply.message.responses;
      }
      Atomics.wait(control, CTL_RESPONSE_SEQ, seen);
    }
  },
  completed: () => Atomics.load(globals, G_ITERATIONS_COMPLETED),
  vusActive: () => Atomics.load(globals, G_VUS_ACTIVE),
};

function log(level, message, source = 'console') {
  parentPort.postMessage({ type: 'log', level, message, source, vu: vu.id });
}

// The runner's own frames (this directory, node internals) say nothing about the script.
const kRunnerDir = new URL('.', import.meta.url).href;

function describeError(error) {
  if (error instanceof Error) {
    const lines = (error.stack || `${error.name}: ${error.message}`).split('\n');
    const ours = (l) => /^\s+at /.test(l) && (l.includes(kRunnerDir) || l.includes('node:'));
    return lines.filter((l) => !ours(l)).join('\n');
  }
  try {
    return typeof error === 'string' ? error : JSON.stringify(error);
  } catch {
    return String(error);
  }
}

function format(args) {
  return args
    .map((a) => {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return a.stack || a.message;
      try {
        return JSON.stringify(a) ?? String(a);
      } catch {
        return String(a);
      }
    })
    .join(' ');
}

function installGlobals() {
  globalThis.__ENV = env;
  Object.defineProperty(globalThis, '__VU', { get: () => vu.id, configurable: true });
  Object.defineProperty(globalThis, '__ITER', { get: () => vu.iteration, configurable: true });
  const scriptDir = path.dirname(scriptPath);
  // k6's open(): init context only; "b" gives an ArrayBuffer.
  globalThis.open = (file, mode) => {
    if (!vu.inInit) throw new Error('open() can only be called from the init context');
    const data = fs.readFileSync(path.resolve(scriptDir, String(file)));
    if (mode === 'b') return data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
    return data.toString('utf8');
  };
  globalThis.console = {
    log: (...args) => log('info', format(args)),
    info: (...args) => log('info', format(args)),
    debug: (...args) => log('debug', format(args)),
    warn: (...args) => log('warning', format(args)),
    error: (...args) => log('error', format(args)),
  };
}

function jsonSafe(value) {
  try {
    return JSON.parse(JSON.stringify(value ?? {}));
  } catch (error) {
    throw new Error(`options must be JSON-serializable: ${error.message}`);
  }
}

async function runIteration(fn, data, claimed) {
  vu.iterationInTest = claimed >= 0 ? claimed : Atomics.add(globals, G_ITERATIONS_STARTED, 1);
  vu.groupPath = '';
  const start = performance.now();
  try {
    const result = fn(data);
    if (result && typeof result.then === 'function') await result;
  } catch (error) {
    if (error instanceof TestAbort) {
      Atomics.store(globals, G_ABORTED, 1);
      parentPort.postMessage({ type: 'abort', reason: error.reason });
      return;
    }
    log('error', describeError(error), 'stacktrace');
  }
  vu.groupPath = '';
  vu.emit('iteration_duration', performance.now() - start, {});
  vu.emit('iterations', 1, {});
  Atomics.add(globals, G_ITERATIONS_COMPLETED, 1);
  vu.iteration += 1;
  vu.flush();
}

// Iterates until told to stop (or, for shared-iterations, until none are left).
async function runLoop(fn, data) {
  for (;;) {
    const state = Atomics.load(control, CTL_STATE);
    if (state === VU_STOP || Atomics.load(globals, G_ABORTED) !== 0) break;
    if (state === VU_IDLE) {
      vu.flush();
      parentPort.postMessage({ type: 'parked' });
      Atomics.wait(control, CTL_STATE, VU_IDLE);
      continue;
    }
    let claimed = -1;
    if (vu.plan.executor === 'shared-iterations') {
      claimed = Atomics.add(globals, G_ITERATIONS_CLAIMED, 1);
      if (claimed >= vu.plan.iterations) break;
    }
    await runIteration(fn, data, claimed);
  }
  vu.flush();
  parentPort.postMessage({ type: 'done' });
}

// setup() and teardown() run in VU 0; exceptions go back to the main thread (k6 exits 107).
async function runHook(fn, data) {
  vu.groupPath = '';
  try {
    let result = fn(data);
    if (result && typeof result.then === 'function') result = await result;
    const json = result === undefined ? undefined : JSON.stringify(result);
    if (json !== undefined && json.length > kSetupDataBytesMax) {
      throw new Error(
        `setup() data is ${json.length} bytes of JSON; the limit is ${kSetupDataBytesMax}`,
      );
    }
    return { json };
  } catch (error) {
    if (error instanceof TestAbort) return { aborted: error.reason };
    return { error: describeError(error) };
  } finally {
    vu.flush();
  }
}

async function main() {
  installGlobals();
  let exports;
  try {
    exports = await loadScript(scriptPath, buildModules(vu));
  } catch (error) {
    parentPort.postMessage({ type: 'init-error', message: describeError(error) });
    return;
  }
  vu.inInit = false;
  let options;
  try {
    options = jsonSafe(exports.options);
  } catch (error) {
    parentPort.postMessage({ type: 'init-error', message: describeError(error) });
    return;
  }
  parentPort.postMessage({
    type: 'ready',
    options,
    metrics: vu.declared,
    exports: {
      default: typeof exports.default === 'function',
      setup: typeof exports.setup === 'function',
      teardown: typeof exports.teardown === 'function',
      handleSummary: typeof exports.handleSummary === 'function',
    },
  });
  const parse = (json) => (json === undefined ? undefined : JSON.parse(json));
  parentPort.on('message', async (message) => {
    vu.options = message.options ?? vu.options;
    vu.plan = message.plan ?? vu.plan;
    if (message.type === 'setup') {
      parentPort.postMessage({ type: 'setup-done', ...(await runHook(exports.setup, undefined)) });
    } else if (message.type === 'teardown') {
      const result = await runHook(exports.teardown, parse(message.data));
      parentPort.postMessage({ type: 'teardown-done', ...result });
    } else if (message.type === 'start') {
      await runLoop(exports.default, parse(message.data));
    }
  });
}

main();
