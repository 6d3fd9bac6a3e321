// k6-style log lines on stderr ("INFO[0003] message  source=console"), with a budget: past
// kLogLinesMax lines (kRequestWarningsMax for "Request Failed" warnings) lines are only counted.

import { kLogLinesMax, kRequestWarningsMax } from './limits.mjs';

const kLevels = { debug: 'DEBU', info: 'INFO', warning: 'WARN', error: 'ERRO' };

export class Logger {
  constructor({ stream = process.stderr, verbose = false } = {}) {
    this.stream = stream;
    this.verbose = verbose;
    this.startMs = Date.now();
    this.printed = 0;
    this.dropped = 0;
    this.requestWarnings = 0;
  }

  line(level, message, fields = {}) {
    if (level === 'debug' && !this.verbose) return;
    if (this.printed >= kLogLinesMax) {
      this.dropped += 1;
      return;
    }
    this.printed += 1;
    const seconds = String(Math.floor((Date.now() - this.startMs) / 1000)).padStart(4, '0');
    const extra = Object.entries(fields)
      .map(([k, v]) => ` ${k}=${v}`)
      .join('');
    const tail = extra ? ` ${extra}` : '';
    this.stream.write(`${kLevels[level] || 'INFO'}[${seconds}] ${message}${tail}\n`);
  }

  info(message, fields) {
    this.line('info', message, fields);
  }
  warn(message, fields) {
    this.line('warning', message, fields);
  }
  error(message, fields) {
    this.line('error', message, fields);
  }

  requestWarning(message) {
    this.requestWarnings += 1;
    if (this.requestWarnings <= kRequestWarningsMax) this.warn(message);
    else this.dropped += 1;
  }

  // Called once at the end.
  close() {
    if (this.dropped > 0) {
      this.stream.write(
        `WARN ${this.dropped} further log lines were not printed (limit ${kLogLinesMax}; ` +
          `request warnings ${kRequestWarningsMax})\n`,
      );
    }
  }
}
