'use strict';
// corral/register: unmodified programs (CJS and ESM) get corral's worker_threads, and corral
// never uses node:worker_threads underneath.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { pathToFileURL } = require('url');
const { fixture, run, root, register } = require('./helpers');

describe('corral/register', () => {
  it('swaps worker_threads for require and ESM import, with and without node:', async () => {
    const script = `
      const corral = require(${JSON.stringify(path.join(root, 'worker_threads.js'))});
      import('node:worker_threads').then((esm) => console.log([
        require('worker_threads').Worker === corral.Worker,
        require('node:worker_threads').Worker === corral.Worker,
        esm.Worker === corral.Worker, esm.default.Worker === corral.Worker].join()));`;
    const res = await run(['-r', register, '-e', script]);
    assert.strictEqual(res.stdout, 'true,true,true,true\n');
  });

  it('works as --import for ESM programs', async () => {
    const res = await run(['--import', path.join(root, 'register.mjs'), fixture('esm-main.mjs')]);
    assert.strictEqual(res.code, 0, res.stderr);
    assert.match(res.stdout, /got \{ workerData: 5, isMainThread: false, meta: 'string' \}\nexit 0/);
  });

  it('keeps working when node:worker_threads is replaced by a trap', async () => {
    const trap = fixture('trap-worker-threads.js');
    const res = await run(['-r', trap, '-r', register, fixture('hello-eval.js')]);
    assert.strictEqual(res.stdout, 'Hello from Worker\n', res.stderr);
    const direct = await run(['-r', trap, '-e', `
      const { Worker } = require(${JSON.stringify(path.join(root, 'worker_threads.js'))});
      new Worker('require("worker_threads").parentPort.postMessage(1)', { eval: true }).on('message', console.log);`]);
    assert.strictEqual(direct.stdout, '1\n', direct.stderr);
  });

  it("keeps the line's Worker methods when another preload replaced node's Worker first", async () => {
    const probe = `const w = new (require('worker_threads').Worker)('0', { eval: true });
      console.log(['getHeapSnapshot', 'getHeapStatistics', 'cpuUsage', 'startCpuProfile', 'startHeapProfile']
        .map((name) => typeof w[name]).join(' '), typeof w[Symbol.asyncDispose]);`;
    const stock = await run(['-e', probe]);
    const trapped = await run(['-r', fixture('trap-worker-threads.js'), '-r', register, '-e', probe]);
    assert.strictEqual(trapped.stdout, stock.stdout, trapped.stderr);
  });

  it('has the last word over an earlier preload that replaced fork, in the main thread and in workers alike', async () => {
    const script = `
      const wt = require('worker_threads');
      const trapped = (f) => { try { f(process.execPath, { execArgv: ['-e', '0'], stdio: 'ignore' })?.kill?.(); return 'ok'; } catch (e) { return e.message; } };
      const cp = require('child_process');
      const cluster = require('cluster');
      console.log(wt.isMainThread ? 'main' : 'worker', trapped(cp.fork), String(cluster.fork).includes('TRAP') ? 'TRAP' : 'ok');
      if (wt.isMainThread) new wt.Worker(__filename);`;
    const file = path.join(require('os').tmpdir(), `corral-trap-forks-${process.pid}.js`);
    require('fs').writeFileSync(file, script);
    try {
      const res = await run(['-r', fixture('trap-forks.js'), '-r', register, file]);
      assert.strictEqual(res.stdout, 'main ok ok\nworker ok ok\n', res.stderr);
    } finally {
      require('fs').rmSync(file, { force: true });
    }
  });

  it("the trap really fires for node's own Worker", async () => {
    const res = await run(['-r', fixture('trap-worker-threads.js'), fixture('hello-eval.js')]);
    assert.notStrictEqual(res.code, 0);
    assert.match(res.stderr, /node:worker_threads was used/);
  });

  it("gives workers corral's cluster and child_process, loaded on first use (-r and --import)", async () => {
    const expected = '{"loadedBeforeUse":0,"esmFork":true,"requireFork":true,"spawnIsNodes":true,' +
      '"clusterPrimary":true,"reuseport":true,"loadedAfterUse":true,"listedAfterUse":0}\n{"hello":"child"}\nexit 0\n';
    for (const preload of [['-r', register], ['--import', pathToFileURL(register.replace(/\.js$/, '.mjs')).href]]) {
      const res = await run([...preload, fixture('worker-builtins.mjs')]);
      assert.strictEqual(res.stdout, expected, res.stderr);
    }
  });

  it("child_process.fork is a data property until used, as node's (jest's automock skips accessors)", async () => {
    // What jest-mock's getMetadata reads: own data properties only.
    const script = `
      const cp = require('child_process');
      const d = Object.getOwnPropertyDescriptor(cp, 'fork');
      const before = [typeof d.value, 'get' in d, d.writable, d.enumerable, cp.fork.name, cp.fork.length];
      const child = cp.fork(${JSON.stringify(fixture('exit-code.js'))}, ['3']);
      child.on('exit', (code) => console.log(JSON.stringify({ before, code,
        corral: cp.fork === require(${JSON.stringify(path.join(root, 'child_process.js'))}).fork })));`;
    const node = await run(['-e', script]);
    const corral = await run(['-r', register, '-e', script]);
    assert.strictEqual(node.stdout, '{"before":["function",false,true,true,"fork",1],"code":3,"corral":false}\n', node.stderr);
    assert.strictEqual(corral.stdout, node.stdout.replace('"corral":false', '"corral":true'), corral.stderr);
  });

  it("worker_threads' and cluster's exports are data properties, as node's (jest's automock reads only those)", async () => {
    // What jest-mock's getMetadata collects: own properties without a getter.
    const script = `
      const shape = (m) => Object.getOwnPropertyNames(m).filter((k) => !Object.getOwnPropertyDescriptor(m, k).get)
        .sort().map((k) => k + ':' + typeof m[k]);
      const wt = require('worker_threads');
      const cluster = require('cluster');
      const corral = (name) => require(${JSON.stringify(root)} + '/' + name + '.js');
      console.log(JSON.stringify({ wt: shape(wt), cluster: shape(cluster),
        accessors: [wt, cluster].flatMap((m) => Object.keys(m).filter((k) => Object.getOwnPropertyDescriptor(m, k).get)),
        corral: [wt.Worker === corral('worker_threads').Worker, cluster.fork === corral('cluster').fork] }));`;
    const node = JSON.parse((await run(['-e', script])).stdout);
    const res = await run(['-r', register, '-e', script]);
    const ours = JSON.parse(res.stdout);
    assert.deepStrictEqual(node.accessors, []);
    assert.deepStrictEqual(ours.accessors, [], res.stderr);
    assert.deepStrictEqual(ours.corral, [true, true]);
    for (const name of ['wt', 'cluster']) {
      assert.deepStrictEqual(node[name].filter((k) => !ours[name].includes(k)), [], name);
    }
  });

  it('process.moduleLoadList records the built-ins loaded while a built-in is made corral\'s', async () => {
    // They are loaded inside Node's push of the built-in's own entry, which cuts them off the
    // list; the register puts them back a microtask later.
    const print = `setImmediate(() => console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')))))`;
    const cluster = JSON.stringify(path.join(root, 'cluster.js'));
    const plain = await run(['-e', `require('cluster'); require(${cluster}); ${print}`]);
    const preloaded = await run(['-r', register, '-e', `require('cluster'); ${print}`]);
    const expected = JSON.parse(plain.stdout);
    const actual = JSON.parse(preloaded.stdout);
    assert.strictEqual(new Set(actual).size, actual.length, 'no entry twice');
    assert.deepStrictEqual([...actual].sort(), [...expected].sort(), preloaded.stderr);
  });

  it('costs nothing until used: nothing of corral in require.cache, no addon, no listeners, as plain node', async () => {
    const probe = `console.log(JSON.stringify({
      cache: Object.keys(require.cache).length,
      addons: process.moduleLoadList.filter((m) => m.includes('.node')).length,
      listeners: ['exit', 'uncaughtException', 'warning', 'newListener'].map((e) => process.listenerCount(e)),
      handles: process._getActiveHandles().length,
    }))`;
    const plain = await run(['-e', probe]);
    const preloaded = await run(['-r', register, '-e', probe]);
    assert.strictEqual(preloaded.stdout, plain.stdout, preloaded.stderr);
  });

  it("loads none of Node's worker_threads, cluster, child_process until the program does", async () => {
    const probe = `process._rawDebug(JSON.stringify([Object.getPrototypeOf(process.moduleLoadList) === Array.prototype,
      process.moduleLoadList.filter((m) => /^NativeModule (worker_threads|cluster|child_process|internal\\/worker\\/io)$/.test(m))]))`;
    const plain = await run(['-e', probe]);
    const preloaded = await run(['-r', register, '-e', probe]);
    assert.strictEqual(plain.stderr, '[true,[]]\n');
    assert.strictEqual(preloaded.stderr, '[false,[]]\n');
    // Once all three are loaded, the list of loaded modules is a plain array again.
    const all = await run(['-r', register, '-e', `require('cluster'); require('worker_threads'); ${probe}`]);
    assert.match(all.stderr, /^\[true,\[.*"NativeModule cluster".*\]\]\n$/);
  });

  it('every way to reach the built-ins gets corral: getBuiltinModule, ESM import, createRequire', async () => {
    const corral = (name) => JSON.stringify(path.join(root, `${name}.js`));
    const script = `
      import { createRequire } from 'node:module';
      import { Worker } from 'worker_threads';
      import cluster from 'node:cluster';
      import { fork, spawn } from 'child_process';
      const require = createRequire(import.meta.url);
      const corral = { wt: require(${corral('worker_threads')}), cluster: require(${corral('cluster')}),
        cp: require(${corral('child_process')}) };
      const child = fork(${JSON.stringify(fixture('exit-code.js'))}, ['4']);
      child.on('exit', (code) => console.log([
        Worker === corral.wt.Worker,
        process.getBuiltinModule('node:worker_threads').Worker === corral.wt.Worker,
        cluster.fork === corral.cluster.fork,
        process.getBuiltinModule('child_process').fork === corral.cp.fork,
        spawn === require('node:child_process').spawn, code].join()));`;
    const res = await run(['-r', register, '--input-type=module', '-e', script]);
    assert.strictEqual(res.stdout, 'true,true,true,true,true,4\n', res.stderr);
  });

  it('a process that Node\'s own cluster started as a worker stays Node\'s cluster worker (pm2, -r in execArgv)', async () => {
    const res = await run([fixture('cluster-node-primary.js'), register], { timeout: 30000 });
    assert.strictEqual(res.stdout,
      'served by workers {"isWorker":true,"isPrimary":false,"hasWorker":"number"}\nworker exit SIGTERM\nworker exit SIGTERM\n', res.stderr);
  });
});
