'use strict';
// The `corral` command: start (foreground supervisor), status, reload, stop.
const fs = require('fs');
const os = require('os');
const path = require('path');
const control = require('./control');
const report = require('./report');

const USAGE = `usage:
  corral start <script> [-i N|max] [--name NAME] [--max-memory MB] [--metrics HOST:PORT]
                        [--drain-timeout SECONDS] [--listen-timeout SECONDS] [-- script args]
  corral status [NAME] [--json]
  corral reload NAME
  corral stop NAME`;

class UsageError extends Error {}

function parseStart(argv) {
  const options = { args: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--') { options.args = argv.slice(i + 1); break; }
    if (arg === '-i' || arg === '--instances') {
      const v = value();
      const n = v === 'max' ? (os.availableParallelism?.() ?? os.cpus().length) : Number(v);
      if (!/^(max|\d+)$/.test(v) || n < 1) throw new UsageError(`-i wants a number of workers of 1 or more, or max (got ${v})`);
      options.instances = n;
    } else if (arg === '--name') {
      options.name = value();
      if (!control.NAME.test(options.name)) throw new UsageError(`--name: letters, digits, '.', '_' and '-' only (got ${options.name})`);
    } else if (arg === '--max-memory') {
      const mb = Number(value());
      if (!(mb > 0)) throw new UsageError('--max-memory wants megabytes, more than 0');
      options.maxMemoryMB = mb;
    } else if (arg === '--metrics') {
      options.metrics = value();
      if (!/^.*:\d+$/.test(options.metrics)) throw new UsageError(`--metrics wants HOST:PORT (got ${options.metrics})`);
    } else if (arg === '--drain-timeout') {
      const s = Number(value());
      if (!(s >= 0)) throw new UsageError('--drain-timeout wants seconds');
      options.drainTimeoutMs = s * 1000;
    } else if (arg === '--listen-timeout') {
      const s = Number(value());
      if (!(s > 0)) throw new UsageError('--listen-timeout wants seconds, more than 0');
      options.readyTimeoutMs = s * 1000;
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else if (options.script === undefined) {
      options.script = arg;
    } else {
      throw new UsageError(`unexpected ${arg} (script arguments go after --)`);
    }
  }
  if (options.script === undefined) throw new UsageError('start needs the script to run');
  // What node itself would run: a file, or a directory with an index.js or a package.json main.
  try {
    require.resolve(path.resolve(options.script));
  } catch {
    throw new UsageError(`no such script: ${options.script}`);
  }
  return options;
}

function say(message) {
  process.stderr.write(`corral: ${message}\n`);
}

// Worker output, line by line, prefixed with the worker's id.
function prefixLines(stream, out, prefix) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    if (lines.length > 0) out.write(lines.map((l) => `${prefix}${l}\n`).join(''));
  });
  stream.on('end', () => { if (rest !== '') out.write(`${prefix}${rest}\n`); });
}

async function start(argv) {
  const options = parseStart(argv);
  const { Supervisor } = require('./index');
  const sup = new Supervisor({ ...options, silent: true });
  sup.on('worker-output', (slot, worker) => {
    prefixLines(worker.process.stdout, process.stdout, `[${worker.id}] `);
    prefixLines(worker.process.stderr, process.stderr, `[${worker.id}] `);
  });
  sup.on('worker-exit', (slot, worker, code, signal) => {
    if (!worker.exitedAfterDisconnect && sup.state !== 'stopping' && sup.state !== 'stopped') {
      say(`worker ${worker.id} (pid ${worker.process.pid}) exited with ${signal ?? `code ${code}`}`);
    }
  });
  sup.on('worker-lingering', (worker, ms) => say(`worker ${worker.id} still running ${ms} ms after it disconnected (servers closed): sent SIGTERM`));
  sup.on('worker-killed', (worker, ms) => say(`worker ${worker.id} did not exit within ${ms} ms of being asked to: killed (SIGKILL)`));
  sup.on('restart', (slot, delay) => say(`slot ${slot.index}: restarted after ${delay} ms (restart ${slot.restarts})`));
  sup.on('crash-loop', (slot) => say(`slot ${slot.index}: crash loop (${slot.policy.maxCrashes + 1} quick exits in a row), not restarting it`));
  sup.on('max-memory', (slot, rss) => say(`slot ${slot.index}: worker over --max-memory (${(rss / 1048576).toFixed(0)} MiB), replacing it`));
  sup.on('reload', (replaced) => say(`reloaded ${replaced.length} worker(s)`));
  let exitCode = 0;
  sup.on('all-crashed', () => {
    say('every worker is in a crash loop; stopping');
    exitCode = 1;
    sup.stop();
  });
  sup.on('stop', () => {
    say(`${sup.name} stopped`);
    process.exit(exitCode);
  });
  const stop = (signal) => { say(`${signal}: stopping ${sup.name}`); sup.stop(); };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  // (However asked for, by signal or by `corral reload`, a failed reload is said here.)
  sup.on('reload-failed', (err) => say(`reload failed: ${err.message}`));
  const reload = (signal) => {
    say(`${signal}: reloading ${sup.name}`);
    sup.reload().catch(() => {});
  };
  process.on('SIGHUP', reload).on('SIGUSR2', reload);
  try {
    await sup.start();
  } catch (err) {
    say(err.message);
    process.exit(1);
  }
  const pids = sup.slots.filter((s) => s.state === 'online').map((s) => s.worker.process.pid);
  say(`${sup.name}: ${pids.length} of ${sup.slots.length} worker(s) listening (pids ${pids.join(', ')}); control socket ${sup.socketPath}` +
    (sup.metricsPort != null ? `; metrics on port ${sup.metricsPort}` : ''));
}

function notRunning(name, err) {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') return `no app named "${name}" is running`;
  return `${name}: ${err.message}`;
}

async function status(argv) {
  const json = argv.includes('--json');
  const names = argv.filter((a) => a !== '--json');
  for (const a of names) if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
  if (names.length > 1) throw new UsageError('status takes one NAME at most');
  const all = names.length === 0;
  const results = [];
  for (const name of all ? control.listNames() : names) {
    try {
      results.push(await control.request(name, { cmd: 'status' }, { timeoutMs: 10000 }));
    } catch (err) {
      if (!all) throw new Error(notRunning(name, err));
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(all ? results : results[0], null, 2)}\n`);
  else if (results.length === 0) process.stdout.write('no app is running\n');
  else process.stdout.write(`${results.map(report.table).join('\n\n')}\n`);
}

async function command(cmd, argv) {
  if (argv.length !== 1 || argv[0].startsWith('-')) throw new UsageError(`${cmd} takes the NAME of a running app`);
  const name = argv[0];
  let answer;
  try {
    answer = await control.request(name, { cmd });
  } catch (err) {
    throw new Error(notRunning(name, err));
  }
  if (!answer.ok) throw new Error(`${name}: ${answer.error}`);
  if (cmd === 'reload') process.stdout.write(`${name}: reloaded ${answer.reloaded} worker(s)\n`);
  if (cmd === 'stop') {
    // Done when the primary has gone (its socket file goes with it).
    const socket = control.socketPath(name);
    while (fs.existsSync(socket)) await new Promise((r) => setTimeout(r, 50));
    process.stdout.write(`${name}: stopped\n`);
  }
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'start' && (rest[0] === '--help' || rest[0] === '-h')) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    if (cmd === 'start') return await start(rest);
    if (cmd === 'status') return await status(rest);
    if (cmd === 'reload' || cmd === 'stop') return await command(cmd, rest);
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    throw new UsageError(`unknown command ${cmd}`);
  } catch (err) {
    say(err.message);
    if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}

module.exports = { main, parseStart, UsageError, prefixLines };
