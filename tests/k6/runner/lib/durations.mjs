// k6 durations: numbers are milliseconds; strings are Go durations ("1m30s", "500ms", "1.5s",
// also "1d"), and a bare number string is seconds (as k6's CLI takes "--duration 10").

const kUnitMs = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

// Returns milliseconds, or throws on a malformed value.
export function parseDuration(value, what = 'duration') {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value !== 'string') throw new Error(`invalid ${what}: ${JSON.stringify(value)}`);
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) throw new Error(`invalid ${what}: ${JSON.stringify(value)}`);
    total += Number(m[1]) * kUnitMs[m[2]];
    at = part.lastIndex;
  }
  if (text.length === 0) throw new Error(`invalid ${what}: empty`);
  return total;
}

// Like the summary of k6: "850µs", "12.34ms", "1.5s", "2m3s".
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return '0s';
  const abs = Math.abs(ms);
  if (abs < 1) return `${round(ms * 1000)}µs`;
  if (abs < 1000) return `${round(ms)}ms`;
  if (abs < 60_000) return `${round(ms / 1000)}s`;
  const sign = ms < 0 ? '-' : '';
  const minutes = Math.floor(abs / 60_000);
  const seconds = (abs - minutes * 60_000) / 1000;
  if (minutes < 60) return `${sign}${minutes}m${round(seconds)}s`;
  return `${sign}${Math.floor(minutes / 60)}h${minutes % 60}m${round(seconds)}s`;
}

function round(x) {
  return String(Math.round(x * 100) / 100);
}
