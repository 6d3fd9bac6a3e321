// Limits and defaults of the runner, in one place. k6's own defaults are kept where k6 has one
// (request timeout, graceful stop and ramp-down, setup/teardown timeouts, max redirects, batch
// parallelism); the rest bound what a script can make the runner hold.

// VUs are worker threads (about 10 MB each when idle): 1000 of them already need ~10 GB.
export const kVusMax = 1000;
// Each VU's V8 old generation: a script that leaks hits this instead of the machine's memory.
export const kVuHeapMbMax = 512;

export const kRequestTimeoutDefaultMs = 60_000; // k6: params.timeout defaults to 60s
export const kRequestTimeoutMaxMs = 60 * 60_000;
// A response body larger than this fails the request (status 0, error_code 1000) instead of
// growing a VU's memory without bound. k6 has no such limit; Chorus values are at most 16 MiB.
export const kResponseBodyBytesMax = 64 * 1024 * 1024;
export const kRedirectsMaxDefault = 10; // k6: options.maxRedirects
export const kBatchParallelDefault = 10; // k6: options.batch
export const kBatchRequestsMax = 1000; // requests in one http.batch() call
// Idle keep-alive connections kept per VU (k6 keeps one pool per VU, too), and how long one may
// idle: below common servers' keep-alive limits (Chorus: 60 s), so a reused connection is rarely
// one the server is closing at that moment (Node, unlike Go, does not retry such a request).
export const kFreeSocketsPerVu = 6;
export const kFreeSocketIdleMs = 30_000;

export const kGracefulStopDefaultMs = 30_000; // k6: gracefulStop
export const kGracefulRampDownDefaultMs = 30_000; // k6: gracefulRampDown
export const kSetupTimeoutDefaultMs = 60_000; // k6: setupTimeout
export const kTeardownTimeoutDefaultMs = 60_000; // k6: teardownTimeout
export const kSharedIterationsMaxDurationDefaultMs = 10 * 60_000; // k6: maxDuration
export const kInitTimeoutMs = 60_000; // one VU's init code
// setup() data is JSON-copied into every VU, like k6 does.
export const kSetupDataBytesMax = 16 * 1024 * 1024;

// Trend samples kept exactly; past this a uniform reservoir of this size is kept, so percentiles
// of a long soak become estimates while count/avg/min/max stay exact. 2^20 doubles = 8 MB.
export const kTrendSamplesMax = 1 << 20;
// Samples a VU buffers before posting them to the main thread (it also posts after each
// iteration).
export const kSampleBatchMax = 512;

// Log lines printed (console.* of the scripts, iteration errors, request warnings); the rest are
// counted and the count printed at the end.
export const kLogLinesMax = 10_000;
export const kRequestWarningsMax = 100;
// Distinct check names and submetrics tracked; a script that makes names from data would
// otherwise grow the summary forever.
export const kCheckNamesMax = 10_000;

// How often the ramping schedule is re-evaluated, and how often vus/vus_max are sampled.
export const kScheduleTickMs = 50;
export const kVusSampleIntervalMs = 1000;
export const kProgressIntervalMs = 10_000;
export const kAbortEvalIntervalMs = 1000;

// k6's exit codes (errext/exitcodes).
export const ExitCode = Object.freeze({
  ok: 0,
  thresholdsFailed: 99,
  setupTimeout: 100,
  teardownTimeout: 101,
  invalidConfig: 104,
  externalAbort: 105,
  scriptException: 107,
  scriptAborted: 108,
  usage: 255,
});
