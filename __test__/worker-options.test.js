'use strict';
// A worker's execArgv sets that worker's own Node options, as on Node: which preload modules
// run in it (and that they see the worker's worker_threads values), --conditions,
// --experimental-vm-modules, --loader, --experimental-import-meta-resolve, the deprecation
// switches; without execArgv it inherits them.
const { it } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { fixture, run, register } = require('./helpers');

function makeDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-options-'));
  for (const name of ['cli-preload', 'env-preload', 'opt-preload']) {
    fs.writeFileSync(path.join(dir, `${name}.js`),
      `const wt = require('worker_threads');
       (globalThis.preloads ??= []).push(['${name}', wt.isMainThread, wt.workerData, wt.threadId > 0]);`);
  }
  const pkg = path.join(dir, 'node_modules', 'p');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'),
    JSON.stringify({ name: 'p', exports: { '.': { development: './dev.js', default: './prod.js' } } }));
  fs.writeFileSync(path.join(pkg, 'dev.js'), "module.exports = 'dev';");
  fs.writeFileSync(path.join(pkg, 'prod.js'), "module.exports = 'prod';");
  return dir;
}

it('preloads, conditions, vm modules and deprecation switches per worker, as node', async () => {
  const dir = makeDir();
  try {
    const env = { NODE_OPTIONS: `-r ${path.join(dir, 'env-preload.js')}` };
    const args = ['-r', path.join(dir, 'cli-preload.js'), fixture('worker-exec-options.js'), dir];
    const node = await run(args, { env });
    const corral = await run(['-r', register, ...args], { env });
    assert.strictEqual(corral.stderr, node.stderr);
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /conditions .*"cjs":"dev","esm":"dev"/);
    assert.match(node.stdout, /inherited .*\["cli-preload",false,"data",true\]/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('--loader and --experimental-import-meta-resolve in a worker\'s execArgv, as node (its warning too)', async () => {
  const node = await run([fixture('worker-loader-flags.js')]);
  const corral = await run(['-r', register, fixture('worker-loader-flags.js')]);
  const pidless = (text) => text.replace(/\(node:\d+\)/g, '(node:PID)');
  assert.strictEqual(corral.stdout, node.stdout);
  assert.strictEqual(pidless(corral.stderr), pidless(node.stderr));
  assert.match(node.stdout, /^\["--loader","\.\/hooks\.mjs"\] \{"virtual":"hello from the loader","resolved":"against the module"\}$/m);
  assert.match(node.stdout, /^\["--experimental-import-meta-resolve"\] \{"virtual":"throws ERR_UNSUPPORTED_ESM_URL_SCHEME","resolved":"against the parent given"\}$/m);
  assert.match(node.stderr, /ExperimentalWarning: `--experimental-loader` may be removed/);
});

it('a throw from an exit listener, MessageEvent with global ports, no SharedArrayBuffer: as node', async () => {
  // (V8 dropped the --no-harmony-* switches after Node 20.)
  const major = Number(process.versions.node.split('.')[0]);
  const flagSets = major < 22 ? [[], ['--no-harmony-sharedarraybuffer'], ['--no-harmony-atomics']] : [[]];
  for (const flags of flagSets) {
    const args = [...flags, fixture('worker-edges.js')];
    const node = await run(args);
    const corral = await run(['-r', register, ...args]);
    assert.strictEqual(corral.stdout, node.stdout, flags.join(' '));
    assert.strictEqual(corral.code, node.code);
    assert.match(node.stdout, /uncaught thrown from exit/);
  }
});
