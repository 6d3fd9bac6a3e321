#!/usr/bin/env node
// A k6-compatible runner for the Chorus k6 scripts, on Node.js 18+ with no npm packages:
//
//   node tests/k6/runner/k6.mjs run [--vus N] [--duration 30s] [--iterations N] [--stage 30s:10]...
//                                   [-e KEY=VALUE]... [--summary-export file.json]
//                                   [--cacert ca.pem] script.js
//
// The flags, the summary, the --summary-export document and the exit codes (99 thresholds
// crossed, 107 script error, 104 bad options, 108 aborted, 105 interrupted) follow k6's; only
// --cacert is the runner's own: k6 takes a private CA from SSL_CERT_FILE, which Node ignores.
// See tests/k6/README.md for what the runner supports.

import { Engine } from './lib/engine.mjs';
import { ExitCode } from './lib/limits.mjs';
import { parseStageFlag } from './lib/options.mjs';

const kUsage = `usage: k6.mjs run [flags] <script.js>

flags (as in k6):
  -u, --vus N                     number of VUs
  -d, --duration DURATION         test duration (e.g. 30s, 1m30s)
  -i, --iterations N              iterations shared among the VUs
  -s, --stage DURATION:TARGET     a ramping stage; repeat for more (replaces the script's stages)
  -e, --env KEY=VALUE             a variable for __ENV; repeat for more
      --include-system-env-vars[=false]  copy the environment into __ENV (default true)
      --summary-export FILE       write the end-of-test summary as JSON
      --summary-trend-stats LIST  e.g. "avg,min,med,max,p(90),p(95),p(99)"
      --no-summary                do not print the summary
      --no-thresholds             do not evaluate thresholds
      --no-connection-reuse       a new connection for every request
      --insecure-skip-tls-verify  accept any TLS certificate
  -q, --quiet                     no header and no progress lines
  -v, --verbose                   also print console.debug()

flags of this runner only:
      --cacert FILE               also trust the PEM CA certificate(s) in FILE for https://
                                  (default: CHORUS_CACERT in the script's env, if set; real k6
                                  reads SSL_CERT_FILE instead)
`;

class UsageError extends Error {}

// flag -> [field, kind]; kinds: int, string, stage, env, trendStats, bool (no value), and
// optionalBool (--flag or --flag=false).
const kFlags = {
  '-u': ['vus', 'int'],
  '--vus': ['vus', 'int'],
  '-d': ['duration', 'string'],
  '--duration': ['duration', 'string'],
  '-i': ['iterations', 'int'],
  '--iterations': ['iterations', 'int'],
  '-s': ['stages', 'stage'],
  '--stage': ['stages', 'stage'],
  '-e': ['env', 'env'],
  '--env': ['env', 'env'],
  '--include-system-env-vars': ['includeSystemEnv', 'optionalBool'],
  '--summary-export': ['summaryExport', 'string'],
  '--summary-trend-stats': ['summaryTrendStats', 'trendStats'],
  '--no-summary': ['noSummary', 'bool'],
  '--no-thresholds': ['noThresholds', 'bool'],
  '--no-connection-reuse': ['noConnectionReuse', 'bool'],
  '--insecure-skip-tls-verify': ['insecureSkipTLSVerify', 'bool'],
  '--cacert': ['cacert', 'string'],
  '-q': ['quiet', 'bool'],
  '--quiet': ['quiet', 'bool'],
  '-v': ['verbose', 'bool'],
  '--verbose': ['verbose', 'bool'],
};

function applyFlag(cli, flag, kind, field, text) {
  switch (kind) {
    case 'int':
      if (!/^\d+$/.test(text)) {
        throw new UsageError(`${flag} takes a non-negative integer, not ${text}`);
      }
      cli[field] = Number(text);
      break;
    case 'stage':
      (cli.stages ??= []).push(parseStageFlag(text));
      break;
    case 'env': {
      const eq = text.indexOf('=');
      if (eq <= 0) throw new UsageError(`${flag} takes KEY=VALUE, not ${text}`);
      cli.env[text.slice(0, eq)] = text.slice(eq + 1);
      break;
    }
    case 'trendStats':
      cli.summaryTrendStats = text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      break;
    default:
      cli[field] = text;
  }
}

function parseArgs(argv) {
  const cli = { env: {}, includeSystemEnv: true };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    let inline;
    if (flag.startsWith('--') && flag.includes('=')) {
      inline = flag.slice(flag.indexOf('=') + 1);
      flag = flag.slice(0, flag.indexOf('='));
    }
    const spec = kFlags[flag];
    if (spec === undefined) {
      if (flag.startsWith('-') && flag !== '-') throw new UsageError(`unknown flag: ${flag}`);
      positional.push(flag);
      continue;
    }
    const [field, kind] = spec;
    if (kind === 'bool') cli[field] = true;
    else if (kind === 'optionalBool') cli[field] = inline === undefined || inline === 'true';
    else {
      if (inline === undefined && i + 1 >= argv.length) {
        throw new UsageError(`${flag} needs a value`);
      }
      applyFlag(cli, flag, kind, field, inline ?? argv[++i]);
    }
  }
  if (positional.length !== 1) throw new UsageError('run takes exactly one script');
  cli.script = positional[0];
  return cli;
}

function exit(code) {
  process.exitCode = code;
  process.stdout.write('', () => process.exit(code));
}

async function main(argv) {
  if (argv[0] === 'version') {
    process.stdout.write(`chorus k6-compatible runner 1.0 (node ${process.version})\n`);
    return ExitCode.ok;
  }
  if (argv[0] !== 'run' || argv.includes('-h') || argv.includes('--help')) {
    process.stderr.write(kUsage);
    return argv[0] === 'run' || argv[0] === 'help' ? ExitCode.ok : ExitCode.usage;
  }
  let cli;
  try {
    cli = parseArgs(argv.slice(1));
  } catch (error) {
    process.stderr.write(`${error.message}\n\n${kUsage}`);
    return error instanceof UsageError ? ExitCode.usage : ExitCode.invalidConfig;
  }
  const engine = new Engine(cli);
  let signals = 0;
  const onSignal = (signal) => {
    signals += 1;
    if (signals > 1) process.exit(ExitCode.externalAbort);
    engine.interrupt(
      ExitCode.externalAbort,
      `Stopping the test in response to ${signal}; send it again to quit at once`,
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return engine.run();
}

main(process.argv.slice(2)).then(exit, (error) => {
  process.stderr.write(`internal error: ${error.stack || error}\n`);
  exit(ExitCode.scriptException);
});
