// Consolidates the script's options with the command line (the command line wins, as in k6) and
// derives the one scenario k6's shortcuts describe:
//   iterations (with or without duration)  -> shared-iterations (duration is its maxDuration)
//   duration                               -> constant-vus
//   stages                                 -> ramping-vus (starting at `vus`, default 1)
//   none of them                           -> shared-iterations, 1 iteration, 1 VU
// `scenarios` is not supported; a script that sets it gets a config error (exit 104).

import { formatDuration, parseDuration } from './durations.mjs';
import {
  kGracefulRampDownDefaultMs,
  kGracefulStopDefaultMs,
  kSetupTimeoutDefaultMs,
  kSharedIterationsMaxDurationDefaultMs,
  kTeardownTimeoutDefaultMs,
  kVusMax,
} from './limits.mjs';

export class ConfigError extends Error {}

function positiveInteger(value, what, allowZero = false) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    const kind = allowZero ? 'non-negative' : 'positive';
    throw new ConfigError(`${what} must be a ${kind} integer, not ${JSON.stringify(value)}`);
  }
  return n;
}

function stagesOf(stages) {
  if (!Array.isArray(stages) || stages.length === 0) {
    throw new ConfigError('stages must be a non-empty list');
  }
  return stages.map((s, i) => {
    if (s == null || typeof s !== 'object') {
      throw new ConfigError(`stage ${i} must be {duration, target}`);
    }
    return {
      durationMs: parseDuration(s.duration, `stages[${i}].duration`),
      target: positiveInteger(s.target ?? 0, `stages[${i}].target`, true),
    };
  });
}

// "30s:10" (k6's --stage) -> { duration: '30s', target: 10 }
export function parseStageFlag(text) {
  const m = /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new ConfigError(`--stage takes DURATION:TARGET, not ${JSON.stringify(text)}`);
  return { duration: m[1], target: Number(m[2]) };
}

// Returns { options (consolidated, as exec.test.options sees them), plan }.
export function consolidate(scriptOptions, cli) {
  const options = { ...scriptOptions };
  if (options.scenarios !== undefined) {
    throw new ConfigError(
      'options.scenarios is not supported by this runner; use vus/duration, iterations or stages',
    );
  }
  if (cli.vus !== undefined) options.vus = cli.vus;
  // A duration, iteration count or stage list on the command line replaces the script's.
  if (cli.duration !== undefined || cli.iterations !== undefined) {
    delete options.stages;
    if (cli.iterations === undefined) delete options.iterations;
    if (cli.duration === undefined) delete options.duration;
  }
  if (cli.duration !== undefined) options.duration = cli.duration;
  if (cli.iterations !== undefined) options.iterations = cli.iterations;
  if (cli.stages !== undefined) {
    options.stages = cli.stages;
    delete options.duration;
    delete options.iterations;
  }
  if (cli.summaryTrendStats !== undefined) options.summaryTrendStats = cli.summaryTrendStats;
  if (cli.noConnectionReuse) options.noConnectionReuse = true;
  if (cli.insecureSkipTLSVerify) options.insecureSkipTLSVerify = true;

  const hasStages = options.stages !== undefined && options.stages !== null;
  const hasIterations = options.iterations !== undefined && options.iterations !== null;
  const hasDuration = options.duration !== undefined && options.duration !== null;
  if (hasStages && (hasIterations || hasDuration)) {
    throw new ConfigError('stages cannot be combined with duration or iterations');
  }
  const vus = options.vus == null ? undefined : positiveInteger(options.vus, 'vus', true);
  const plan = {
    gracefulStopMs: kGracefulStopDefaultMs,
    gracefulRampDownMs: kGracefulRampDownDefaultMs,
    setupTimeoutMs: options.setupTimeout
      ? parseDuration(options.setupTimeout, 'setupTimeout')
      : kSetupTimeoutDefaultMs,
    teardownTimeoutMs: options.teardownTimeout
      ? parseDuration(options.teardownTimeout, 'teardownTimeout')
      : kTeardownTimeoutDefaultMs,
  };
  if (hasStages) {
    plan.executor = 'ramping-vus';
    plan.stages = stagesOf(options.stages);
    plan.startVus = vus ?? 1;
    plan.durationMs = plan.stages.reduce((sum, s) => sum + s.durationMs, 0);
    plan.vusMax = Math.max(plan.startVus, ...plan.stages.map((s) => s.target));
  } else if (hasIterations || !hasDuration) {
    plan.executor = 'shared-iterations';
    plan.iterations = hasIterations ? positiveInteger(options.iterations, 'iterations') : 1;
    plan.vusMax = vus ?? 1;
    plan.durationMs = hasDuration
      ? parseDuration(options.duration, 'duration')
      : kSharedIterationsMaxDurationDefaultMs;
    if (plan.vusMax > plan.iterations) {
      throw new ConfigError(
        `vus (${plan.vusMax}) cannot be more than iterations (${plan.iterations})`,
      );
    }
  } else {
    plan.executor = 'constant-vus';
    plan.durationMs = parseDuration(options.duration, 'duration');
    plan.vusMax = vus ?? 1;
    if (!(plan.durationMs > 0)) throw new ConfigError('duration must be more than 0');
  }
  if (plan.vusMax < 1) throw new ConfigError('at least one VU is needed');
  if (plan.vusMax > kVusMax) {
    throw new ConfigError(`${plan.vusMax} VUs is over this runner's limit of ${kVusMax}`);
  }
  return { options, plan };
}

// The VU count a ramping-vus schedule wants at `elapsedMs`: linear within each stage, rounded
// toward the stage's start (a VU is added once the line reaches it, removed once it drops below).
export function rampingTarget(plan, elapsedMs) {
  let from = plan.startVus;
  let at = 0;
  for (const stage of plan.stages) {
    if (elapsedMs < at + stage.durationMs) {
      const value = from + ((stage.target - from) * (elapsedMs - at)) / stage.durationMs;
      return stage.target >= from ? Math.floor(value) : Math.ceil(value);
    }
    at += stage.durationMs;
    from = stage.target;
  }
  return from;
}

export function describePlan(plan) {
  const duration = formatDuration(plan.durationMs);
  const stop = `gracefulStop: ${formatDuration(plan.gracefulStopMs)}`;
  switch (plan.executor) {
    case 'shared-iterations':
      return (
        `${plan.iterations} iterations shared among ${plan.vusMax} VUs ` +
        `(maxDuration: ${duration}, ${stop})`
      );
    case 'constant-vus':
      return `${plan.vusMax} looping VUs for ${duration} (${stop})`;
    default:
      return (
        `Up to ${plan.vusMax} looping VUs for ${duration} over ${plan.stages.length} stages ` +
        `(gracefulRampDown: ${formatDuration(plan.gracefulRampDownMs)}, ${stop})`
      );
  }
}
