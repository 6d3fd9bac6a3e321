// The test run on the main thread: starts the VU threads, runs setup(), drives the scenario
// (constant-vus, ramping-vus or shared-iterations), runs teardown(), then evaluates thresholds
// and prints the summary. Returns k6's exit code.
//
// Order, as in k6: VU 0 loads the script first (its options decide everything else), the other
// VUs are initialized before setup() runs, and the clock of the scenario starts after setup().

import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MessageChannel, Worker } from 'node:worker_threads';

import { formatDuration } from './durations.mjs';
import { HttpBridge, trustedRoots } from './http_bridge.mjs';
import {
  ExitCode,
  kAbortEvalIntervalMs,
  kInitTimeoutMs,
  kProgressIntervalMs,
  kScheduleTickMs,
  kVuHeapMbMax,
  kVusSampleIntervalMs,
} from './limits.mjs';
import { Logger } from './logger.mjs';
import { Registry } from './metrics.mjs';
import { consolidate, describePlan, rampingTarget } from './options.mjs';
import {
  CTL_RESPONSE_SEQ,
  CTL_STATE,
  G_ITERATIONS_COMPLETED,
  G_VUS_ACTIVE,
  newControl,
  newGlobals,
  VU_ACTIVE,
  VU_IDLE,
  VU_STOP,
} from './shared.mjs';
import { jsonSummary, kDefaultTrendStats, textSummary } from './summary.mjs';
import { buildThresholds, evaluate } from './thresholds.mjs';

const kVuWorkerUrl = new URL('./vu.mjs', import.meta.url);
// --no-warnings: the VM-modules ExperimentalWarning would be printed once per VU.
const kVuExecArgv = ['--experimental-vm-modules', '--no-warnings'];
// VUs initialized at once: each one compiles the script in its own thread.
const kInitParallelMax = 16;

class RunError extends Error {
  constructor(exitCode, message) {
    super(message);
    this.exitCode = exitCode;
  }
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // awaited elsewhere when it matters; never an unhandled rejection
  return { promise, resolve, reject };
}

function delay(ms) {
  let timer;
  const promise = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  promise.cancel = () => clearTimeout(timer);
  return promise;
}

// Races the promises against a deadline; resolves with 'timeout' when the deadline wins.
async function within(ms, ...promises) {
  const timer = delay(ms);
  try {
    return await Promise.race([...promises, timer]);
  } finally {
    timer.cancel();
  }
}

// One VU thread. A VU whose iteration had to be cut off is replaced by a fresh thread (same id,
// next generation); messages of an old generation are ignored.
class VuHandle {
  constructor(engine, id) {
    this.engine = engine;
    this.id = id;
    this.generation = 0;
    this.active = false; // the schedule wants it iterating
    this.parked = true;
    this.rampDownDeadline = null;
  }

  spawn() {
    const engine = this.engine;
    this.generation += 1;
    this.key = `${this.id}:${this.generation}`;
    this.state = 'initializing'; // -> ready -> running -> done | dead
    this.control = newControl();
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.ready = deferred();
    this.done = deferred();
    this.hook = null;
    const generation = this.generation;
    this.worker = new Worker(kVuWorkerUrl, {
      workerData: {
        scriptPath: engine.scriptPath,
        env: engine.env,
        vuId: this.id,
        control: this.control,
        globals: engine.globals,
        port: port2,
      },
      transferList: [port2],
      execArgv: kVuExecArgv,
      resourceLimits: { maxOldGenerationSizeMb: kVuHeapMbMax },
    });
    const current = () => generation === this.generation;
    this.worker.on('message', (m) => current() && engine.onMessage(this, m));
    this.worker.on('error', (e) => current() && this.lost(`crashed: ${e.stack || e}`));
    this.worker.on('exit', (code) => current() && this.lost(`exited with code ${code}`));
    return this.ready.promise;
  }

  setState(state) {
    Atomics.store(this.control, CTL_STATE, state);
    Atomics.notify(this.control, CTL_STATE);
  }

  start(state, data, plan, options) {
    this.setState(state);
    this.active = state === VU_ACTIVE;
    this.parked = state !== VU_ACTIVE;
    this.state = 'running';
    this.worker.postMessage({ type: 'start', data, plan, options });
  }

  // The thread ended without saying "done": unblock everyone waiting on it.
  lost(reason) {
    if (this.state === 'dead') return;
    const expected = this.state === 'done' || this.engine.stopping;
    this.state = 'dead';
    if (!expected) this.engine.logger.error(`VU ${this.id} ${reason}`);
    this.ready.reject(new RunError(ExitCode.scriptException, `VU ${this.id} ${reason}`));
    this.done.resolve();
    this.hook?.resolve({ error: `VU ${this.id} ${reason}` });
    this.engine.bridge.release(this.key);
  }

  async terminate() {
    if (this.worker === undefined) return;
    const worker = this.worker;
    this.generation += 1; // ignore whatever the old thread still sends
    this.state = 'dead';
    this.done.resolve();
    this.hook?.resolve({ error: `VU ${this.id} was stopped` });
    this.engine.bridge.release(this.key);
    this.port.close();
    await worker.terminate();
  }
}

export class Engine {
  // cli: see k6.mjs (script, env, vus, duration, iterations, stages, summaryExport, quiet, ...).
  constructor(cli, out = process.stdout) {
    this.cli = cli;
    this.out = out;
    this.scriptPath = path.resolve(cli.script);
    this.env = cli.includeSystemEnv ? { ...process.env, ...cli.env } : { ...cli.env };
    this.logger = new Logger({ verbose: cli.verbose });
    this.registry = new Registry();
    this.globals = newGlobals();
    this.vus = [];
    this.interrupted = deferred(); // resolves with { exitCode, reason } to end the scenario early
    this.stopping = false;
    this.interruptedIterations = 0;
    this.timers = [];
  }

  interrupt(exitCode, reason) {
    if (this.interruption) return;
    this.interruption = { exitCode, reason };
    this.logger.warn(reason);
    this.interrupted.resolve(this.interruption);
  }

  onMessage(vu, m) {
    switch (m.type) {
      case 'ready':
        vu.state = 'ready';
        vu.info = m;
        vu.ready.resolve(m);
        break;
      case 'init-error':
        vu.ready.reject(new RunError(ExitCode.scriptException, m.message));
        break;
      case 'samples':
        for (const [name, value, tags] of m.samples) this.registry.add(name, value, tags);
        break;
      case 'http':
        // The bridge never rejects; anything else is a runner bug, reported, not swallowed.
        this.serveHttp(vu, m).catch((error) => this.logger.error(`HTTP bridge: ${error.stack}`));
        break;
      case 'log':
        this.logger.line(m.level, m.message, { source: m.source });
        break;
      case 'parked':
        vu.parked = true;
        vu.rampDownDeadline = null;
        break;
      case 'done':
        vu.state = 'done';
        vu.done.resolve();
        break;
      case 'abort':
        this.interrupt(
          ExitCode.scriptAborted,
          `test aborted by the script${m.reason ? `: ${m.reason}` : ''}`,
        );
        break;
      case 'setup-done':
      case 'teardown-done':
        vu.hook?.resolve(m);
        break;
      default:
        this.logger.error(`unexpected message ${m.type} from VU ${vu.id}`);
    }
  }

  async serveHttp(vu, m) {
    const key = vu.key;
    const responses =
      m.requests.length === 1
        ? [await this.bridge.request(key, m.requests[0])]
        : await this.bridge.batch(key, m.requests);
    if (vu.key !== key || vu.state === 'dead') return;
    const transfer = responses.filter((r) => r.body instanceof ArrayBuffer).map((r) => r.body);
    vu.port.postMessage({ seq: m.seq, responses }, transfer);
    Atomics.add(vu.control, CTL_RESPONSE_SEQ, 1);
    Atomics.notify(vu.control, CTL_RESPONSE_SEQ);
  }

  async run() {
    let exitCode = ExitCode.ok;
    try {
      exitCode = await this.runPhases();
    } catch (error) {
      if (!(error instanceof RunError)) throw error;
      this.logger.error(error.message);
      exitCode = error.exitCode;
    } finally {
      await this.cleanup();
    }
    this.logger.close();
    return exitCode;
  }

  async runPhases() {
    const exports = await this.prepare();
    for (let id = 1; id <= this.plan.vusMax; id++) this.vus.push(new VuHandle(this, id));
    await this.initAll();
    if (exports.setup) {
      this.setupJson = (await this.hook('setup', undefined, this.plan.setupTimeoutMs)).json;
    }
    this.registry.add('vus_max', this.plan.vusMax, {});
    await this.runScenario();
    this.stopping = true;

    let teardownExitCode = ExitCode.ok;
    if (exports.teardown && this.interruption?.exitCode !== ExitCode.externalAbort) {
      try {
        await this.hook('teardown', this.setupJson, this.plan.teardownTimeoutMs);
      } catch (error) {
        if (!(error instanceof RunError)) throw error;
        this.logger.error(error.message);
        teardownExitCode = error.exitCode;
      }
    }
    const failed = evaluate(this.thresholds, this.elapsedMs);
    this.printSummary();
    if (this.interruption) return this.interruption.exitCode;
    if (failed.length > 0) {
      const names = [...new Set(failed.map((t) => t.key))].join(', ');
      this.logger.error(`thresholds on metrics '${names}' have been crossed`);
      return ExitCode.thresholdsFailed;
    }
    return teardownExitCode;
  }

  // Loads the script in VU 0 and settles options, plan and thresholds. Returns which functions
  // the script exports.
  async prepare() {
    if (!fs.existsSync(this.scriptPath)) {
      throw new RunError(
        ExitCode.scriptException,
        `the script ${this.cli.script} could not be found`,
      );
    }
    const warn = (m) => this.logger.requestWarning(m);
    this.bridge = new HttpBridge(this.registry, warn, {}, this.trustedCa());
    this.setupVu = new VuHandle(this, 0);
    const info = await this.init(this.setupVu);
    if (!info.exports.default) {
      throw new RunError(
        ExitCode.scriptException,
        'the script has no default function (export default function () {...})',
      );
    }
    if (info.exports.handleSummary) {
      this.logger.warn('handleSummary() is not supported by this runner; ignored');
    }
    this.declareMetrics(info.metrics);
    let consolidated;
    try {
      consolidated = consolidate(info.options, this.cli);
      this.thresholds = this.cli.noThresholds
        ? []
        : buildThresholds(consolidated.options.thresholds, this.registry);
    } catch (error) {
      throw new RunError(ExitCode.invalidConfig, error.message);
    }
    this.options = consolidated.options;
    this.plan = consolidated.plan;
    this.trendStats = this.options.summaryTrendStats || kDefaultTrendStats;
    this.bridge.options = this.options;
    this.printHeader();
    return info.exports;
  }

  // The roots https trusts: those of --cacert, else of CHORUS_CACERT in the script's __ENV, so that
  // `-e CHORUS_CACERT=ca.pem`, which the scripts document but real k6 cannot apply, works here
  // alone; null (Node's roots) without either. A file that cannot be used is a config error before
  // any VU starts.
  trustedCa() {
    const fromFlag = this.cli.cacert !== undefined;
    const file = fromFlag ? this.cli.cacert : this.env.CHORUS_CACERT;
    if (!fromFlag && !file) return null;
    try {
      return trustedRoots(file, fromFlag ? `--cacert ${file}` : `CHORUS_CACERT=${file}`);
    } catch (error) {
      throw new RunError(ExitCode.invalidConfig, error.message);
    }
  }

  async init(vu) {
    const result = await within(kInitTimeoutMs, vu.spawn());
    if (result === 'timeout') {
      throw new RunError(
        ExitCode.scriptException,
        `VU ${vu.id}: init code did not finish in ${kInitTimeoutMs / 1000}s`,
      );
    }
    return result;
  }

  async initAll() {
    let next = 0;
    const lane = async () => {
      while (next < this.vus.length) {
        const vu = this.vus[next++];
        const info = await this.init(vu);
        this.declareMetrics(info.metrics);
      }
    };
    const lanes = [];
    for (let i = 0; i < Math.min(kInitParallelMax, this.vus.length); i++) lanes.push(lane());
    await Promise.all(lanes);
  }

  declareMetrics(declared) {
    try {
      for (const m of declared) this.registry.declare(m.name, m.type, m.isTime);
    } catch (error) {
      throw new RunError(ExitCode.scriptException, error.message);
    }
  }

  // Runs setup() or teardown() in VU 0. Returns { json } or throws a RunError.
  async hook(name, data, timeoutMs) {
    const vu = this.setupVu;
    vu.hook = deferred();
    vu.worker.postMessage({ type: name, data, options: this.options, plan: this.vuPlan() });
    // A signal during setup() ends the run; teardown() runs to its end (or its timeout).
    const interrupted = name === 'setup' ? [this.interrupted.promise] : [];
    const result = await within(timeoutMs, vu.hook.promise, ...interrupted);
    vu.hook = null;
    if (result === 'timeout') {
      const code = name === 'setup' ? ExitCode.setupTimeout : ExitCode.teardownTimeout;
      throw new RunError(code, `${name}() execution timed out after ${formatDuration(timeoutMs)}`);
    }
    if (result.exitCode !== undefined) {
      throw new RunError(result.exitCode, `${name}() was interrupted`);
    }
    if (result.aborted !== undefined) {
      const reason = result.aborted ? `: ${result.aborted}` : '';
      throw new RunError(ExitCode.scriptAborted, `test aborted in ${name}()${reason}`);
    }
    if (result.error !== undefined) {
      throw new RunError(ExitCode.scriptException, `${name}() failed: ${result.error}`);
    }
    return result;
  }

  vuPlan() {
    const p = this.plan;
    return {
      executor: p.executor,
      iterations: p.iterations ?? 0,
      durationMs: p.executor === 'shared-iterations' ? 0 : p.durationMs,
      vusMax: p.vusMax,
      startEpochMs: this.startEpochMs ?? Date.now(),
    };
  }

  get elapsedMs() {
    if (this.startMs === undefined) return 0;
    return (this.endMs ?? performance.now()) - this.startMs;
  }

  activeCount() {
    return this.vus.filter((v) => v.active && v.state === 'running').length;
  }

  setActive(vu, active) {
    vu.active = active;
    if (active) {
      vu.rampDownDeadline = null;
      vu.parked = false;
      vu.setState(VU_ACTIVE);
    } else {
      vu.rampDownDeadline = performance.now() + this.plan.gracefulRampDownMs;
      vu.setState(VU_IDLE);
    }
    const count = this.activeCount();
    Atomics.store(this.globals, G_VUS_ACTIVE, count);
    this.registry.add('vus', count, {});
  }

  async runScenario() {
    const plan = this.plan;
    this.startMs = performance.now();
    this.startEpochMs = Date.now();
    const vuPlan = this.vuPlan();
    const initial = plan.executor === 'ramping-vus' ? plan.startVus : plan.vusMax;
    for (const vu of this.vus) {
      vu.start(vu.id <= initial ? VU_ACTIVE : VU_IDLE, this.setupJson, vuPlan, this.options);
    }
    Atomics.store(this.globals, G_VUS_ACTIVE, this.activeCount());
    this.every(kVusSampleIntervalMs, () => this.registry.add('vus', this.activeCount(), {}));
    this.registry.add('vus', this.activeCount(), {});
    if (!this.cli.quiet) this.every(kProgressIntervalMs, () => this.progress());
    if (this.thresholds.some((t) => t.abortOnFail)) {
      this.every(kAbortEvalIntervalMs, () => this.abortOnFail());
    }
    if (plan.executor === 'ramping-vus') {
      this.every(kScheduleTickMs, () => this.ramp());
    }
    const allDone = Promise.all(this.vus.map((v) => v.done.promise));
    const ended = await within(plan.durationMs, allDone, this.interrupted.promise);
    await this.stopAll(ended !== 'timeout' && ended !== undefined && ended.exitCode !== undefined);
    this.endMs = performance.now();
    this.registry.add('vus', 0, {});
    this.stopTimers();
  }

  // ramping-vus: follow the schedule; replace VUs that overran their graceful ramp-down.
  ramp() {
    const target = rampingTarget(this.plan, this.elapsedMs);
    const running = this.vus.filter((v) => v.state === 'running');
    let active = running.filter((v) => v.active).length;
    for (const vu of running) {
      if (active >= target) break;
      if (!vu.active) {
        this.setActive(vu, true);
        active += 1;
      }
    }
    for (const vu of [...running].reverse()) {
      if (active <= target) break;
      if (vu.active) {
        this.setActive(vu, false);
        active -= 1;
      }
    }
    const now = performance.now();
    for (const vu of running) {
      if (!vu.active && !vu.parked && vu.rampDownDeadline !== null && now > vu.rampDownDeadline) {
        this.replace(vu);
      }
    }
  }

  // Cuts off a VU's iteration (k6: gracefulRampDown ran out) and starts a fresh thread for it.
  async replace(vu) {
    this.interruptedIterations += 1;
    await vu.terminate();
    try {
      await this.init(vu);
      if (this.stopping || this.endMs !== undefined) return;
      vu.start(VU_IDLE, this.setupJson, this.vuPlan(), this.options);
    } catch (error) {
      this.logger.error(`VU ${vu.id} could not be restarted: ${error.message}`);
    }
  }

  // Ends the scenario: every VU finishes its iteration within gracefulStop (none when hard), the
  // rest are cut off.
  async stopAll(hard) {
    this.stopping = true;
    const running = this.vus.filter((v) => v.state === 'running');
    for (const vu of running) vu.setState(VU_STOP);
    if (!hard) {
      const finished = Promise.all(running.map((v) => v.done.promise));
      await within(this.plan.gracefulStopMs, finished, this.interrupted.promise);
    }
    const late = this.vus.filter((v) => v.state === 'running');
    this.interruptedIterations += late.length;
    await Promise.all(late.map((v) => v.terminate()));
  }

  abortOnFail() {
    const elapsed = this.elapsedMs;
    const due = this.thresholds.filter((t) => t.abortOnFail && elapsed >= t.delayAbortEvalMs);
    const failed = evaluate(due, elapsed);
    if (failed.length > 0) {
      const list = failed.map((t) => `${t.key}: ${t.expression.source}`).join('; ');
      this.interrupt(
        ExitCode.thresholdsFailed,
        `thresholds with abortOnFail have been crossed (${list})`,
      );
    }
  }

  every(ms, fn) {
    const timer = setInterval(fn, ms);
    this.timers.push(timer);
  }

  stopTimers() {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  completed() {
    return Atomics.load(this.globals, G_ITERATIONS_COMPLETED);
  }

  progress() {
    const width = String(this.plan.vusMax).length;
    const active = String(this.activeCount()).padStart(width, '0');
    process.stderr.write(
      `running (${formatDuration(this.elapsedMs)}), ${active}/${this.plan.vusMax} VUs, ` +
        `${this.completed()} complete and ${this.interruptedIterations} interrupted iterations\n`,
    );
  }

  printHeader() {
    if (this.cli.quiet) return;
    const maxMs = this.plan.durationMs + this.plan.gracefulStopMs;
    this.out.write(
      [
        '',
        `  execution: local (chorus k6-compatible runner on node ${process.version})`,
        `     script: ${this.cli.script}`,
        '     output: -',
        '',
        `  scenarios: (100.00%) 1 scenario, ${this.plan.vusMax} max VUs, ` +
          `${formatDuration(maxMs)} max duration (incl. graceful stop):`,
        `           * default: ${describePlan(this.plan)}`,
        '',
        '',
      ].join('\n'),
    );
  }

  printSummary() {
    const run = {
      elapsedMs: this.elapsedMs,
      thresholds: this.thresholds,
      trendStats: this.trendStats,
      complete: this.completed(),
      interrupted: this.interruptedIterations,
      vusMax: this.plan.vusMax,
    };
    if (!this.cli.noSummary) this.out.write(textSummary(this.registry, run));
    if (this.cli.summaryExport) {
      const document = jsonSummary(this.registry, run);
      fs.writeFileSync(this.cli.summaryExport, `${JSON.stringify(document, null, 2)}\n`);
    }
  }

  async cleanup() {
    this.stopping = true;
    this.stopTimers();
    const all = [...this.vus, this.setupVu].filter((v) => v !== undefined);
    await Promise.all(all.map((v) => v.terminate()));
    this.bridge?.releaseAll();
  }
}
