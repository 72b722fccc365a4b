'use strict';
// Build-time probe (run by scripts/build.js under the Node being built for): which Node options
// this line's own workers refuse in execArgv (options of the whole process, V8's), and which of
// the others need a value. corral's Worker applies the same rule (lib/worker_threads/worker.js)
// without asking Node at run time. Prints JSON { rejected: [...], needsValue: [...] }.
const { Worker } = require('worker_threads');

const samples = ['module', 'commonjs', '1', 'x', 'warn', 'development', '/tmp', 'node'];
const accepted = (execArgv) => {
  try {
    new Worker('', { eval: true, execArgv }).terminate();
    return true;
  } catch (error) {
    return error.code !== 'ERR_WORKER_INVALID_EXEC_ARGV';
  }
};

const rejected = [];
const needsValue = [];
for (const flag of [...process.allowedNodeEnvironmentFlags].sort()) {
  if (accepted([flag])) continue;
  const withValue = samples.some((value) => (flag.startsWith('--') && accepted([`${flag}=${value}`])) || accepted([flag, value]));
  (withValue ? needsValue : rejected).push(flag);
}
process.stdout.write(JSON.stringify({ rejected, needsValue }));
