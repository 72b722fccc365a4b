'use strict';
// Build-time probe (run by scripts/build.js under the Node being built for): which Node options
// this line's own workers refuse in execArgv (options of the whole process, V8's), and which of
// the others need a value. corral's Worker applies the same rule (lib/worker_threads/worker.js)
// without asking Node at run time. Also the options Node's workers take that NODE_OPTIONS may not
// carry (--env-file, --eval, --test, ...: listed by `node --help`), which a program's own
// execArgv passed on to its workers can hold. Prints JSON { rejected, needsValue, accepted }
// (`accepted`: those options; needsValue lists any of them that take a value), and `requires`:
// options Node takes only beside another (--cpu-prof-dir "must be used with --cpu-prof"), by name.
const { Worker } = require('worker_threads');

const samples = ['module', 'commonjs', '1', 'x', 'warn', 'development', '/tmp', 'node'];
const requires = {};
const tryWorker = (execArgv) => {
  try {
    new Worker('', { eval: true, execArgv }).terminate();
    return null;
  } catch (error) {
    return error.code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? error.message : null;
  }
};
// Whether the flag in execArgv (its first or only item) is taken, beside its companion if Node
// names one.
const accepted = (execArgv) => {
  const refusal = tryWorker(execArgv);
  if (refusal === null) return true;
  const flag = execArgv[0].split('=')[0];
  const companion = refusal.match(new RegExp(`${flag} must be used with (--[a-z0-9-]+)`))?.[1];
  if (companion === undefined || tryWorker([companion, ...execArgv]) !== null) return false;
  requires[flag] = companion;
  return true;
};

const rejected = [];
const needsValue = [];
for (const flag of [...process.allowedNodeEnvironmentFlags].sort()) {
  if (accepted([flag])) continue;
  const withValue = samples.some((value) => (flag.startsWith('--') && accepted([`${flag}=${value}`])) || accepted([flag, value]));
  (withValue ? needsValue : rejected).push(flag);
}
const help = require('child_process').execFileSync(process.execPath, ['--help'], { encoding: 'utf8' });
const listed = new Set([...help.matchAll(/(?:^|[\s,])(--?[a-zA-Z0-9][a-zA-Z0-9-]*)/gm)].map((match) => match[1]));
const beyondEnv = [];
for (const flag of [...listed].sort()) {
  if (process.allowedNodeEnvironmentFlags.has(flag) || (!flag.startsWith('--') && flag.length !== 2)) continue;
  if (accepted([flag])) {
    beyondEnv.push(flag);
  } else if (samples.some((value) => (flag.startsWith('--') && accepted([`${flag}=${value}`])) || accepted([flag, value]))) {
    beyondEnv.push(flag);
    needsValue.push(flag);
  }
}
// In a worker's own env.NODE_OPTIONS Node takes V8's options (which it refuses in execArgv, V8
// flags being the process's) and refuses its own options of the whole process (--title, ...).
const acceptedInEnv = (value) => {
  try {
    new Worker('', { eval: true, env: { NODE_OPTIONS: value } }).terminate();
    return true;
  } catch (error) {
    return error.code !== 'ERR_WORKER_INVALID_EXEC_ARGV';
  }
};
const rejectedInEnv = rejected.filter((flag) => !acceptedInEnv(flag) &&
  !samples.some((value) => acceptedInEnv(`${flag}=${value}`) || acceptedInEnv(`${flag} ${value}`)));
process.stdout.write(JSON.stringify({ rejected, needsValue, accepted: beyondEnv, rejectedInEnv, requires }));
