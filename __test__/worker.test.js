'use strict';
// corral/worker_threads Worker: options, events, exit codes, stdio, env, nesting.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { Worker, SHARE_ENV, isMainThread, parentPort, threadId, workerData } = require('../worker_threads');
const { fixture, runBoth, runNode, once } = require('./helpers');

const evalWorker = (code, options = {}) => new Worker(code, { eval: true, ...options });

function collect(worker) {
  const events = [];
  for (const name of ['online', 'message', 'messageerror', 'error', 'exit']) {
    worker.on(name, (value) => events.push(name === 'online' ? [name] : [name, value]));
  }
  return new Promise((resolve) => worker.once('exit', () => resolve(events)));
}

describe('module exports on the main thread', () => {
  it('reports the main thread like node:worker_threads', () => {
    assert.strictEqual(isMainThread, true);
    assert.strictEqual(parentPort, null);
    assert.strictEqual(threadId, 0);
    assert.strictEqual(workerData, null);
    assert.strictEqual(typeof SHARE_ENV, 'symbol');
  });
});

describe('Worker construction errors match Node', () => {
  const cases = [
    [() => new Worker(42), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => new Worker('worker.js'), TypeError, 'ERR_WORKER_PATH'],
    [() => new Worker(new URL('http://example.com/w.js')), TypeError, 'ERR_INVALID_URL_SCHEME'],
    [() => new Worker(new URL('file:///w.js'), { eval: true }), TypeError, 'ERR_INVALID_ARG_VALUE'],
    [() => evalWorker('', { argv: 'x' }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => evalWorker('', { execArgv: '--x' }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => evalWorker('', { execArgv: ['--no-such-flag'] }), Error, 'ERR_WORKER_INVALID_EXEC_ARGV'],
    [() => evalWorker('', { env: 5 }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => evalWorker('', { workerData: () => {} }), DOMException, undefined],
  ];
  for (const [make, Class, code] of cases) {
    it(`${make.toString().slice(6)} throws ${code ?? Class.name}`, () => {
      assert.throws(make, (err) => err instanceof Class && err.code === (code ?? err.code));
    });
  }

  it('gives the same messages as node for the same bad calls', async () => {
    const { node, corral } = await runBoth(fixture('worker-errors.js'));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.ok(node.stdout.split('\n').length > 5);
  });
});

describe('Worker lifecycle', () => {
  it('startHeapProfile(options) checks and uses its sampling options where the line has them, as node (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('heap-profile-options.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
  });

  it("names a worker's OS thread as the line's node does (its name, or WorkerThread, on 24+), warm or not (fixture)", async () => {
    const { node, corral } = await runBoth(fixture('worker-thread-names.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    if (Number(process.versions.node.split('.')[0]) >= 24) assert.match(node.stdout, /"inner","outer"/);
  });

  it('a worker that replaced array iteration, Object.keys and the like still writes, ends and is terminated as in node (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('worker-exit-patched-builtins.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /^ended: exit 0 calls 0 /);
  });

  it('reads the name option and checks cpuUsage(prev) as node does (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('worker-names.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /^5 throws ERR_INVALID_ARG_TYPE/m);
  });

  it("terminate() during the worker's 'exit' handlers ends it with 1, as in node (fixture)", async () => {
    const { node, corral } = await runBoth(fixture('terminate-in-exit-handler.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /natural terminate\(\) resolved 1 exit event 1/);
  });

  it('emits online, message, exit in order and posts both ways', async () => {
    const w = evalWorker(`
      const { parentPort } = require('worker_threads');
      parentPort.once('message', (m) => parentPort.postMessage(m * 2));`);
    const events = collect(w);
    w.postMessage(21);
    assert.deepStrictEqual(await events, [['online'], ['message', 42], ['exit', 0]]);
  });

  it('process.exit(n) in the worker ends only the worker, with n', async () => {
    const w = evalWorker('process.exit(7); require("fs").writeSync(1, "not reached")');
    assert.strictEqual(await once(w, 'exit'), 7);
    assert.strictEqual(process.exitCode, undefined);
  });

  it('process.exitCode is the exit code of a worker that ends by itself', async () => {
    assert.strictEqual(await once(evalWorker('process.exitCode = 4'), 'exit'), 4);
  });

  it('an uncaught exception becomes an error event with name, message and stack, then exit 1', async () => {
    const w = evalWorker('function deep() { throw new RangeError("boom") } deep()');
    const events = await collect(w);
    assert.deepStrictEqual(events.map((e) => e[0]), ['online', 'error', 'exit']);
    const err = events[1][1];
    assert.ok(err instanceof RangeError);
    assert.strictEqual(err.message, 'boom');
    assert.match(err.stack, /deep/);
    assert.strictEqual(events[2][1], 1);
  });

  it('unhandled rejections and throws in timers are reported too', async () => {
    const rejected = await collect(evalWorker('Promise.reject(new TypeError("nope"))'));
    assert.strictEqual(rejected[1][1].message, 'nope');
    const timer = await collect(evalWorker('setTimeout(() => { throw new Error("late") }, 5)'));
    assert.strictEqual(timer[1][1].message, 'late');
    const primitive = await collect(evalWorker('throw 42'));
    assert.deepStrictEqual(primitive.slice(1), [['error', 42], ['exit', 1]]);
  });

  it('an error whose cause leads back to itself reaches the parent (as Node 26: the cycle inspects), never a crash', async () => {
    const events = await collect(evalWorker('const e = new Error("self"); e.cause = e; throw e'));
    assert.deepStrictEqual(events.map((e) => e[0]), ['online', 'error', 'exit']);
    const err = events[1][1];
    assert.ok(err instanceof Error);
    assert.strictEqual(err.message, 'self');
    assert.match(require('util').inspect(err.cause), /Error: self/);
    assert.strictEqual(events[2][1], 1);
  });

  it("a worker's own uncaughtException listener keeps it alive", async () => {
    const w = evalWorker(`
      process.on('uncaughtException', (e) => require('worker_threads').parentPort.postMessage('caught ' + e.message));
      setTimeout(() => { throw new Error('x') }, 1);`);
    const events = await collect(w);
    assert.deepStrictEqual(events.slice(1), [['message', 'caught x'], ['exit', 0]]);
  });

  it('uncaught errors give what node gives, and the worker sees no uncaughtException listener of corral\'s', async () => {
    const { node, corral } = await runBoth(fixture('worker-uncaught.js'));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /listeners 0 0/);
  });

  it('workers that cannot start for want of file descriptors fail as node\'s do (ERR_WORKER_INIT_FAILED, EMFILE), silently', async () => {
    const { spawnSync } = require('child_process');
    const run = (impl) => spawnSync('bash', ['-c', `ulimit -n 96 && exec "$0" "$1" "$2"`, process.execPath,
      fixture('worker-fd-exhaustion.js'), impl], { encoding: 'utf8', timeout: 60000 });
    const node = run('node');
    const corral = run('corral');
    assert.deepStrictEqual([corral.status, corral.stdout, corral.stderr], [node.status, node.stdout, node.stderr]);
    assert.deepStrictEqual([node.status, node.stdout], [0, '[]\n']);
  });

  it('stdio writes complete when the parent has read them, nothing is lost at exit, terminate() holds the process (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('worker-stdio-timing.js'));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /\["writableLength",6\]/);
  });

  it("'exit' comes in the turn Node emits it: unref'd immediates and destroy hooks queued from it run at once", async () => {
    const { node, corral } = await runBoth(fixture('worker-exit-turn.js'));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /destroy after await terminate\(\): same turn/);
  });

  it('trackUnmanagedFds: fds a worker leaves open are closed when it ends (unless false)', async () => {
    const code = `const fs = require('fs'); require('worker_threads').parentPort.postMessage(fs.openSync(${JSON.stringify(__filename)}));`;
    for (const [option, closed] of [[undefined, true], [true, true], [false, false]]) {
      const w = new Worker(code, { eval: true, trackUnmanagedFds: option });
      const [fd] = await Promise.all([once(w, 'message'), once(w, 'exit')]);
      // Open = still this file (a closed number may already be reused by something else).
      const file = require('fs').statSync(__filename);
      let open = true;
      try {
        const st = require('fs').fstatSync(fd);
        open = st.ino === file.ino && st.dev === file.dev;
      } catch {
        open = false;
      }
      assert.strictEqual(open, !closed, `trackUnmanagedFds: ${option}`);
      if (open) require('fs').closeSync(fd);
    }
  });

  it('terminate() stops a busy worker and resolves with exit code 1', async () => {
    const w = evalWorker('require("worker_threads").parentPort.postMessage("go"); for (;;) {}');
    await once(w, 'message');
    const exit = once(w, 'exit');
    assert.strictEqual(await w.terminate(), 1);
    assert.strictEqual(await exit, 1);
    assert.strictEqual(w.threadId, -1);
    assert.strictEqual(await w.terminate(), undefined);
  });

  it('terminate() right after construction still ends the worker, with 0 as Node (it had not begun)', async () => {
    // A worker that boots its own environment (an explicit execArgv takes no warm thread) has
    // not begun when the constructor returns, as Node's.
    const w = evalWorker('setInterval(() => {}, 1000)', { execArgv: [] });
    assert.strictEqual(await w.terminate(), 0);
    // A warm thread's environment is up already: it may have begun the script (1) before the
    // terminate lands; either way the worker ends.
    const warm = evalWorker('setInterval(() => {}, 1000)');
    assert.ok([0, 1].includes(await warm.terminate()));
    const online = evalWorker('setInterval(() => {}, 1000)');
    await once(online, 'online');
    assert.strictEqual(await online.terminate(), 1);
  });

  it('messages posted before exit are delivered before the exit event', async () => {
    const w = evalWorker(`
      const { parentPort } = require('worker_threads');
      for (let i = 0; i < 1000; i++) parentPort.postMessage(i);
      process.exit(3);`);
    const seen = [];
    w.on('message', (m) => seen.push(m));
    assert.strictEqual(await once(w, 'exit'), 3);
    assert.deepStrictEqual(seen, Array.from({ length: 1000 }, (_, i) => i));
  });

  it('unref() lets the parent exit while the worker is busy', async () => {
    const script = `
      const { Worker } = require(${JSON.stringify(path.join(__dirname, '..', 'worker_threads'))});
      const w = new Worker('for (;;) {}', { eval: true });
      w.unref();
      setTimeout(() => console.log('parent done'), 20);`;
    const { run } = require('./helpers');
    const res = await run(['-e', script], { timeout: 10000 });
    assert.strictEqual(res.code, 0);
    assert.strictEqual(res.stdout, 'parent done\n');
  });

  it('runs on an OS thread of this process, not a child process', async () => {
    const w = evalWorker(`
      const { parentPort } = require('worker_threads');
      parentPort.postMessage({ pid: process.pid, tid: require('fs').readlinkSync('/proc/thread-self') });`);
    const { pid, tid } = await once(w, 'message');
    assert.strictEqual(pid, process.pid);
    assert.notStrictEqual(tid, fs.readlinkSync('/proc/thread-self'));
    await once(w, 'exit');
  });

  it("a node:worker_threads Worker that loads corral does not stop the main thread's workers", async () => {
    // Every listener is on before anything can arrive: node's Worker may emit its last
    // 'message' and 'exit' in one turn, and "done" may come while we wait for the other.
    const mine = evalWorker('setTimeout(() => require("worker_threads").parentPort.postMessage("done"), 300)');
    const mineMessage = once(mine, 'message');
    const mineExit = once(mine, 'exit');
    const NodeWorker = process.getBuiltinModule('worker_threads').Worker;
    const foreign = new NodeWorker(`
      const { Worker } = require(${JSON.stringify(path.join(__dirname, '..', 'worker_threads.js'))});
      new Worker('require("worker_threads").parentPort.postMessage(2)', { eval: true })
        .on('message', (m) => require('worker_threads').parentPort.postMessage(m));`, { eval: true });
    const foreignMessage = once(foreign, 'message');
    const foreignExit = once(foreign, 'exit');
    assert.strictEqual(await foreignMessage, 2);
    await foreignExit;
    assert.strictEqual(await mineMessage, 'done');
    assert.strictEqual(await mineExit, 0);
  });

  it('workers can start workers', async () => {
    const w = evalWorker(`
      const { Worker, parentPort, threadId } = require('worker_threads');
      const inner = new Worker('require("worker_threads").parentPort.postMessage(require("worker_threads").threadId)', { eval: true });
      inner.on('message', (id) => parentPort.postMessage([threadId, id]));`);
    const [outer, inner] = await once(w, 'message');
    assert.ok(outer > 0 && inner > outer);
    assert.strictEqual(await once(w, 'exit'), 0);
  });
});

describe('the worker environment', () => {
  it('sees worker_threads as a worker under every name, including ESM', async () => {
    const w = evalWorker(`
      const a = require('worker_threads'), b = require('node:worker_threads');
      import('node:worker_threads').then((c) => a.parentPort.postMessage([
        a.isMainThread, b.isMainThread, c.isMainThread, a.parentPort === b.parentPort,
        c.parentPort === a.parentPort, a.workerData, a.threadId === c.threadId]));`, { workerData: 'wd' });
    assert.deepStrictEqual(await once(w, 'message'), [false, false, false, true, true, 'wd', true]);
  });

  it('gets a copy of process.env by default, the real one with SHARE_ENV, or the given env', async () => {
    process.env.CORRAL_TEST_VAR = 'parent';
    const read = 'require("worker_threads").parentPort.postMessage(process.env.CORRAL_TEST_VAR); process.env.CORRAL_TEST_SET = 1';
    assert.strictEqual(await once(evalWorker(read), 'message'), 'parent');
    assert.strictEqual(process.env.CORRAL_TEST_SET, undefined);
    assert.strictEqual(await once(evalWorker(read, { env: { CORRAL_TEST_VAR: 7 } }), 'message'), '7');
    const shared = evalWorker(read, { env: SHARE_ENV });
    assert.strictEqual(await once(shared, 'message'), 'parent');
    await once(shared, 'exit');
    assert.strictEqual(process.env.CORRAL_TEST_SET, '1');
    delete process.env.CORRAL_TEST_SET;
  });

  it('sets argv and execArgv like Node', async () => {
    const w = evalWorker('require("worker_threads").parentPort.postMessage([process.argv.slice(1), process.execArgv])',
      { argv: ['a', 2], execArgv: ['--no-warnings'] });
    assert.deepStrictEqual(await once(w, 'message'), [['[worker eval]', 'a', '2'], ['--no-warnings']]);
  });

  it('refuses process-wide operations like Node workers do', async () => {
    const w = evalWorker(`
      const out = [];
      for (const f of [() => process.chdir('/'), () => process.umask(0o22), () => process.setuid?.(0)]) {
        try { f(); out.push('ok') } catch (e) { out.push(e.code + ': ' + e.message) }
      }
      out.push(typeof process.umask());
      require('worker_threads').parentPort.postMessage(out);`);
    assert.deepStrictEqual(await once(w, 'message'), [
      'ERR_WORKER_UNSUPPORTED_OPERATION: process.chdir() is not supported in workers',
      'ERR_WORKER_UNSUPPORTED_OPERATION: Setting process.umask() is not supported in workers',
      'ERR_WORKER_UNSUPPORTED_OPERATION: process.setuid() is not supported in workers',
      'number',
    ]);
  });

  it('relays stdout and stderr through the parent, or exposes them as streams', async () => {
    const w = evalWorker('console.log("out line"); console.error("err line"); process.stdout.write("a"); process.stdout.write("b\\n")',
      { stdout: true, stderr: true });
    let out = '';
    let err = '';
    w.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    w.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    await once(w, 'exit');
    await new Promise((r) => setImmediate(r));
    assert.strictEqual(out, 'out line\nab\n');
    assert.strictEqual(err, 'err line\n');
  });

  it('feeds worker.stdin to process.stdin with stdin: true', async () => {
    const w = evalWorker(`
      let data = '';
      process.stdin.setEncoding('utf8').on('data', (d) => data += d).on('end', () =>
        require('worker_threads').parentPort.postMessage(data.toUpperCase()));`, { stdin: true });
    w.stdin.write('hello ');
    w.stdin.end('world');
    assert.strictEqual(await once(w, 'message'), 'HELLO WORLD');
  });

  it('runs files by path and file: URL, CJS and ESM', async () => {
    const cjs = new Worker(fixture('sum-worker.js').replace('sum-worker', 'echo-worker'), { workerData: 'cjs' });
    assert.deepStrictEqual(await once(cjs, 'message'), { workerData: 'cjs', main: true });
    const esm = new Worker(pathToFileURL(fixture('esm-worker.mjs')), { workerData: 9 });
    assert.deepStrictEqual(await once(esm, 'message'), { workerData: 9, isMainThread: false, meta: 'string' });
  });

  it('runs eval code with module syntax as an ES module, as Node does', async () => {
    const w = evalWorker(`import { parentPort, workerData } from 'node:worker_threads';
      parentPort.postMessage(workerData + 1);`, { workerData: 1 });
    assert.strictEqual(await once(w, 'message'), 2);
    const bad = evalWorker('this is not javascript');
    assert.strictEqual((await once(bad, 'error')).name, 'SyntaxError');
  });

  it('reports a missing worker file as an error event', async () => {
    const w = new Worker(path.join(__dirname, 'fixtures', 'no-such-file.js'));
    const err = await once(w, 'error');
    assert.strictEqual(err.code, 'MODULE_NOT_FOUND');
    assert.strictEqual(await once(w, 'exit'), 1);
  });
});

describe('same output as node:worker_threads', () => {
  for (const file of ['hello-eval.js', 'worker-events.js', 'sum-main.js', 'eval-module-detection.js', 'uncaught-values.js',
    'worker-listeners.js', 'eval-module-imports.js', 'worker-exec-modes.js', 'worker-stdout-pace.js',
    'worker-node-options.js', 'worker-entry-phase.js', 'worker-env-object.js', 'worker-entry-kinds.js',
    'worker-busy-questions.js', 'worker-process-wide.js', 'worker-stdout-cork.js', 'worker-diagnostics-channel.js',
    'worker-async-context.js', 'active-handles.js', 'error-stack-top.js',
    'worker-terminate-codes.js', 'worker-brand-checks.js', 'port-detached-in-message.js', 'worker-prof-files.js',
    'worker-option-order.js', 'worker-stdio-shape.js']) {
    it(file, async () => {
      const opts = { env: { FOO: 'bar' }, timeout: 60000 };
      let { node, corral } = await runBoth(fixture(file), [], opts);
      // Node itself sometimes delivers a worker's first messages before its 'online' (two
      // ports race there): a mismatch must also be a mismatch with more node runs.
      for (let i = 0; i < 3 && corral.stdout !== node.stdout; i++) node = await runNode(fixture(file), [], opts);
      assert.strictEqual(corral.stdout, node.stdout);
      assert.strictEqual(corral.code, node.code);
      assert.ok(node.stdout.length > 0);
    });
  }

  it("a worker's worker_threads: node's keys and data properties, one object by every name; Node's stream and worker internals load only once used", async () => {
    const { node, corral } = await runBoth(fixture('worker-builtin.js'), [], { timeout: 60000 });
    assert.strictEqual(node.code, 0, node.stderr);
    // (locks, on lines that have it: read on first use in a corral worker, see the README)
    assert.strictEqual(corral.stdout.replace('locks:accessor:', 'locks:data:'), node.stdout, corral.stderr);
    assert.match(corral.stdout, /same object: true true/);
    assert.match(corral.stdout, /stream after stdout: true/);
    assert.deepStrictEqual(JSON.parse(corral.stderr), { stream: false, workerIo: false });
  });

  it("getHeapSnapshot() reads the worker's own heap, with Node's errors", async () => {
    const { node, corral } = await runBoth(fixture('heap-snapshot.js'), [], { timeout: 60000 });
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(corral.stdout, /worker heap holds the marker true\nafter exit ERR_WORKER_NOT_RUNNING/);
  });
});
