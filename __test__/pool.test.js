'use strict';
// corral/pool: tasks, errors, crashes, abort, queue limit, growth and idle shrink, close and
// destroy, option validation.
const { describe, it, after } = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { pathToFileURL } = require('url');
const { Pool } = require('../pool');
const { fixture, root, runNode } = require('./helpers');

const tasks = fixture('pool/tasks.js');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check, what, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// Every pool made here is destroyed at the end, whatever a test did.
const pools = [];
function pool(options) {
  const p = new Pool({ filename: tasks, ...options });
  pools.push(p);
  return p;
}
after(() => Promise.all(pools.map((p) => p.destroy())));

describe('pool tasks', () => {
  it('runs the default export and named tasks, sync and async', async () => {
    const p = pool({ minThreads: 1, maxThreads: 2 });
    assert.strictEqual(await p.run({ a: 2, b: 3 }), 5);
    assert.deepStrictEqual(await p.run({ x: [1, 2n, new Map([[1, 2]])] }, { name: 'echo' }),
      { x: [1, 2n, new Map([[1, 2]])] });
    assert.strictEqual(typeof await p.run(5, { name: 'sleep' }), 'number');
  });

  it('completes 100 000 tiny tasks with correct results', async () => {
    const p = pool({ minThreads: 2, maxThreads: 2 });
    const n = 100000;
    const runs = [];
    for (let i = 0; i < n; i++) runs.push(p.run({ a: i, b: i }));
    const results = await Promise.all(runs);
    for (let i = 0; i < n; i++) assert.strictEqual(results[i], 2 * i);
    assert.strictEqual(p.completed, n);
    const { runTime, waitTime } = p;
    assert.strictEqual(runTime.count, n);
    assert.strictEqual(waitTime.count, n);
    for (const s of [runTime, waitTime]) {
      assert.ok(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max, JSON.stringify(s));
      assert.ok(s.mean >= s.min && s.mean <= s.max);
    }
    assert.ok(p.utilization > 0 && p.utilization <= 1, String(p.utilization));
    assert.strictEqual(p.queueSize, 0);
  });

  it('loads ES module task files (default and named exports), by path or file URL', async () => {
    const p = pool({ filename: pathToFileURL(fixture('pool/tasks.mjs')), minThreads: 1 });
    assert.strictEqual(await p.run(7), 49);
    assert.strictEqual(await p.run(7, { name: 'negate' }), -7);
    assert.strictEqual(await p.run(7, { name: 'later' }), 8);
  });

  it('waits for a task file that exports a promise of its function', async () => {
    const p = pool({ filename: fixture('pool/async-setup.js'), minThreads: 1 });
    assert.strictEqual(await p.run(1), 101);
  });

  it('gives workers workerData, argv and env, in worker threads', async () => {
    const p = pool({ minThreads: 1, workerData: { hello: 'world' }, argv: ['--x', 1],
      env: { CORRAL_POOL_TEST: 'yes' } });
    assert.deepStrictEqual(await p.run(null, { name: 'context' }),
      { workerData: { hello: 'world' }, argv: ['--x', '1'], env: 'yes', isMainThread: false });
  });

  it('moves transferList buffers to the worker', async () => {
    const p = pool({ minThreads: 1 });
    const buffer = new ArrayBuffer(1024);
    const done = p.run(buffer, { name: 'byteLength', transferList: [buffer] });
    assert.strictEqual(buffer.byteLength, 0, 'detached at the sender');
    assert.strictEqual(await done, 1024);
  });

  it('runs concurrentTasksPerWorker async tasks at once on one worker', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 4 });
    await p.run(0, { name: 'sleep' });
    const start = Date.now();
    const ids = await Promise.all([1, 2, 3, 4].map(() => p.run(200, { name: 'sleep' })));
    const took = Date.now() - start;
    assert.strictEqual(new Set(ids).size, 1);
    assert.ok(took < 700, `4 x 200 ms on one worker took ${took} ms`);
  });

  it('runs examples/pool', async () => {
    const { code, stdout, stderr } = await runNode(path.join(root, 'examples', 'pool'), [], { timeout: 30000 });
    assert.strictEqual(code, 0, stderr);
    assert.match(stdout, /^200 digests in \d+ ms on \d+ threads\nfirst: [0-9a-f]{64}\nrun time p50/);
  });

  it('lets a program exit with an idle pool it never closed', async () => {
    const { code, stdout } = await runNode(fixture('pool/idle-exit.js'), [], { timeout: 10000 });
    assert.strictEqual(code, 0);
    assert.strictEqual(stdout, '[3,5]\n');
  });
});

describe('pool errors', () => {
  it('rejects with the error a task throws or rejects with, and goes on', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    await assert.rejects(p.run('bad', { name: 'fail' }), (e) => e instanceof RangeError && e.message === 'bad');
    await assert.rejects(p.run('worse', { name: 'reject' }), (e) => e instanceof TypeError && e.message === 'worse');
    await assert.rejects(p.run(0, { name: 'missing' }), { code: 'ERR_CORRAL_POOL_NO_TASK' });
    assert.strictEqual(await p.run({ a: 1, b: 2 }), 3);
    await assert.rejects(p.run({ a: 1, b: 2 }, { name: '' }), { code: 'ERR_CORRAL_POOL_NO_TASK' }, 'not the default task');
    await assert.rejects(p.run(0, { name: 'uncloneable' }), { name: 'DataCloneError' });
    assert.strictEqual(await p.run({ a: 1, b: 1 }), 2);
    assert.strictEqual(p.threads.length, 1);
  });

  it("keeps an error's cloneable properties when others cannot travel, and an AggregateError's errors", async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    await assert.rejects(p.run(0, { name: 'failWithFunction' }), (e) =>
      e.message === 'has a function' && e.code === 'E_MINE' && !('callback' in e) && !('exploding' in e));
    await assert.rejects(p.run(0, { name: 'failAggregate' }), (e) =>
      e instanceof AggregateError && e.message === 'several' &&
      e.errors.length === 2 && e.errors[0] instanceof RangeError && e.errors[1] instanceof TypeError);
    assert.strictEqual(p.threads.length, 1);
  });

  it('rejects an uncloneable task without queueing it', async () => {
    const p = pool({ minThreads: 1 });
    await assert.rejects(p.run(() => {}), { name: 'DataCloneError' });
    assert.strictEqual(p.queueSize, 0);
  });

  it('replaces a worker that crashes; only its own task fails', async () => {
    const p = pool({ minThreads: 2, maxThreads: 2 });
    const created = [];
    const destroyed = [];
    p.on('workerCreate', (w) => created.push(w));
    p.on('workerDestroy', (w) => destroyed.push(w));
    const others = Array.from({ length: 20 }, (_, i) => p.run({ a: i, b: 0 }));
    await assert.rejects(p.run(3, { name: 'exit' }), { code: 'ERR_CORRAL_POOL_WORKER_EXITED' });
    assert.deepStrictEqual(await Promise.all(others), Array.from({ length: 20 }, (_, i) => i));
    await waitFor(() => created.length === 1, 'a replacement worker');
    assert.strictEqual(destroyed.length, 1);
    assert.strictEqual(p.threads.length, 2);
    assert.strictEqual(await p.run({ a: 1, b: 2 }), 3);
  });

  it("emits 'error' for an error outside any task and replaces the worker", async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    // An idle pool does not keep the process alive: this test does while it waits.
    const keepAlive = setInterval(() => {}, 1000);
    const failed = new Promise((resolve) => p.once('error', resolve)).finally(() => clearInterval(keepAlive));
    assert.strictEqual(await p.run(null, { name: 'failLater' }), 'scheduled');
    const error = await failed;
    assert.strictEqual(error.message, 'thrown outside any task');
    assert.strictEqual(await p.run({ a: 2, b: 2 }), 4);
  });

  it('fails every task with the load error of a broken task file, without restarting workers', async () => {
    const p = pool({ filename: fixture('pool/broken.js'), minThreads: 1, maxThreads: 1 });
    let created = 0;
    p.on('workerCreate', () => created++);
    for (let i = 0; i < 3; i++) await assert.rejects(p.run(1), SyntaxError);
    assert.strictEqual(created, 0);
  });

  it('fails the queued tasks when workers exit while loading the task file, without restarting in a loop', async () => {
    const p = pool({ filename: fixture('pool/exit-at-load.js'), minThreads: 1, maxThreads: 2 });
    let created = 0;
    p.on('workerCreate', () => created++);
    await assert.rejects(p.run(1), { code: 'ERR_CORRAL_POOL_WORKER_EXITED', message: /exited with code 2 while loading/ });
    await sleep(200);
    assert.ok(created <= 1, `${created} workers started after the first exit`);
    await assert.rejects(p.run(2), { code: 'ERR_CORRAL_POOL_WORKER_EXITED' });
  });

  it('rejects every task of a crashed worker, however many it was running', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 100 });
    await p.run(0, { name: 'sleep' });
    const running = Array.from({ length: 99 }, () => p.run(5000, { name: 'sleep' }));
    const settled = Promise.allSettled([...running, p.run(0, { name: 'exit' })]);
    const results = await settled;
    assert.strictEqual(results.filter((r) => r.reason?.code === 'ERR_CORRAL_POOL_WORKER_EXITED').length, 100);
  });

  it('rejects when the queue is at maxQueue', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1, maxQueue: 2 });
    await p.run(0, { name: 'sleep' });
    const running = p.run(300, { name: 'spin' });
    while (p.queueSize > 0) await sleep(5); // the spin task has been handed to the worker
    const queued = [p.run(1, { name: 'echo' }), p.run(2, { name: 'echo' })];
    await assert.rejects(p.run(3, { name: 'echo' }), { code: 'ERR_CORRAL_POOL_QUEUE_FULL' });
    assert.strictEqual(p.queueSize, 2);
    await running;
    assert.deepStrictEqual(await Promise.all(queued), [1, 2]);
  });

  it('with maxQueue 0 runs a task as soon as a worker can take it, starting workers up to maxThreads', async () => {
    // Tasks that workers still starting (or still to be started) will take do not count as waiting.
    // (Tasks that take a while: an echo could end on a worker already up before the fourth run,
    // which that worker could then take.)
    const p = pool({ minThreads: 1, maxThreads: 3, maxQueue: 0 });
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => p.run(100, { name: 'sleep' })));
    assert.deepStrictEqual(results.slice(0, 3).map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled']);
    assert.strictEqual(new Set(results.slice(0, 3).map((r) => r.value)).size, 3);  // on three threads
    assert.strictEqual(results[3].reason?.code, 'ERR_CORRAL_POOL_QUEUE_FULL');
    assert.strictEqual(p.threads.length, 3);
  });

  it("with maxQueue 0 counts a worker that came up while the main thread was busy once (it takes a task, it is not also one still starting)", async () => {
    const p = pool({ minThreads: 1, maxThreads: 3, maxQueue: 0 });
    // The first worker boots and waits for tasks while this thread cannot hear it is ready.
    const until = Date.now() + 1500;
    while (Date.now() < until);
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => p.run(100, { name: 'sleep' })));
    assert.deepStrictEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    assert.strictEqual(results[3].reason.code, 'ERR_CORRAL_POOL_QUEUE_FULL');
  });
});

describe('pool abort', () => {
  it('rejects at once for a signal already aborted', async () => {
    const p = pool({ minThreads: 1 });
    const reason = new Error('no');
    await assert.rejects(p.run(1, { signal: AbortSignal.abort(reason) }),
      (e) => e.name === 'AbortError' && e.code === 'ABORT_ERR' && e.cause === reason);
  });

  it('takes an aborted queued task out of the queue', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    await p.run(0, { name: 'sleep' });
    const running = p.run(300, { name: 'spin' });
    await sleep(50);
    const controller = new AbortController();
    const queued = p.run(1, { name: 'echo', signal: controller.signal });
    assert.strictEqual(p.queueSize, 1);
    controller.abort();
    await assert.rejects(queued, { name: 'AbortError' });
    assert.strictEqual(p.queueSize, 0);
    assert.strictEqual(typeof await running, 'number', 'the running task is not disturbed');
    assert.strictEqual(p.completed, 2);
  });

  it('terminates the worker of an aborted running task and replaces it', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    const victim = await p.run(null, { name: 'threadId' });
    const destroyed = new Promise((resolve) => p.once('workerDestroy', resolve));
    const controller = new AbortController();
    const start = Date.now();
    const running = p.run(20000, { name: 'spin', signal: controller.signal });
    await sleep(100);
    controller.abort();
    await assert.rejects(running, { name: 'AbortError' });
    await destroyed;
    assert.ok(Date.now() - start < 5000);
    const replacement = await p.run(null, { name: 'threadId' });
    assert.notStrictEqual(replacement, victim);
  });

  it('runs a task with a signal alone on its worker: aborting it fails no other task', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 4 });
    await p.run(0, { name: 'sleep' });
    const others = [p.run(200, { name: 'sleep' }), p.run(200, { name: 'sleep' })];
    const controller = new AbortController();
    const abortable = p.run(200, { name: 'sleep', signal: controller.signal });
    const after = p.run(1, { name: 'echo' });
    await sleep(50);
    assert.strictEqual(p.queueSize, 2, 'the abortable task waits for the worker to be free');
    controller.abort();
    await assert.rejects(abortable, { name: 'AbortError' });
    const results = await Promise.all([...others, after]);
    assert.strictEqual(results[2], 1);
    // Taken alone once the worker is free, it still runs.
    assert.strictEqual(typeof await p.run(10, { name: 'sleep', signal: new AbortController().signal }), 'number');
  });
});

describe('pool size', () => {
  it('grows to maxThreads under load and shrinks to minThreads when idle', async () => {
    // Idle timeout well above a task's length: no worker leaves before the last task is done,
    // however late (under load) the extra workers start.
    const p = pool({ minThreads: 1, maxThreads: 3, idleTimeout: 600 });
    let destroyed = 0;
    p.on('workerDestroy', () => destroyed++);
    const ids = await Promise.all(Array.from({ length: 6 }, () => p.run(250, { name: 'sleep' })));
    assert.strictEqual(p.threads.length, 3);
    assert.strictEqual(new Set(ids).size, 3);
    await waitFor(() => p.threads.length === 1, 'idle workers to leave');
    assert.strictEqual(destroyed, 2);
    assert.strictEqual(await p.run({ a: 1, b: 1 }), 2);
  });

  it("emits 'drain' once the tasks that had to wait have been handed out", async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    let drains = 0;
    p.on('drain', () => drains++);
    await Promise.all(Array.from({ length: 10 }, (_, i) => p.run(i, { name: 'echo' })));
    assert.ok(drains >= 1);
    assert.strictEqual(p.queueSize, 0);
  });
});

describe('pool close and destroy', () => {
  it('close() finishes queued and running tasks, then stops the workers', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    const runs = [p.run(100, { name: 'sleep' }), p.run(1, { name: 'echo' }), p.run(2, { name: 'echo' })];
    const closed = p.close();
    await assert.rejects(p.run(3, { name: 'echo' }), { code: 'ERR_CORRAL_POOL_CLOSED' });
    const results = await Promise.all(runs);
    assert.deepStrictEqual(results.slice(1), [1, 2]);
    await closed;
    assert.strictEqual(p.threads.length, 0);
    assert.strictEqual(p.completed, 3);
  });

  it('close() runs the queued tasks on a new worker when the last one crashes', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    const crashed = p.run(1, { name: 'exit' });
    const queued = [1, 2, 3].map((i) => p.run(i, { name: 'echo' }));
    const closed = p.close();
    await assert.rejects(crashed, { code: 'ERR_CORRAL_POOL_WORKER_EXITED' });
    assert.deepStrictEqual(await Promise.all(queued), [1, 2, 3]);
    await closed;
    assert.strictEqual(p.threads.length, 0);
  });

  it('destroy() rejects queued and running tasks', async () => {
    const p = pool({ minThreads: 1, maxThreads: 1 });
    await p.run(0, { name: 'sleep' });
    const running = p.run(20000, { name: 'spin' });
    await sleep(50);
    const queued = p.run(1, { name: 'echo' });
    const rejected = [assert.rejects(running, { code: 'ERR_CORRAL_POOL_DESTROYED' }),
      assert.rejects(queued, { code: 'ERR_CORRAL_POOL_DESTROYED' })];
    await p.destroy();
    await Promise.all(rejected);
    assert.strictEqual(p.threads.length, 0);
    await assert.rejects(p.run(1), { code: 'ERR_CORRAL_POOL_DESTROYED' });
  });
});

describe('pool options', () => {
  const bad = [
    [{}, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ filename: 5 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ filename: tasks, minThreads: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ filename: tasks, maxThreads: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ filename: tasks, minThreads: 3, maxThreads: 2 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ filename: tasks, minThreads: '1' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ filename: tasks, idleTimeout: -5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ filename: tasks, maxQueue: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ filename: tasks, maxQueue: 'lots' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ filename: tasks, concurrentTasksPerWorker: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ filename: tasks, execArgv: ['--no-such-flag'] }, Error, 'ERR_WORKER_INVALID_EXEC_ARGV'],
  ];
  for (const [options, Class, code] of bad) {
    it(`${JSON.stringify(options).replace(tasks, 'tasks.js')} throws ${code}`, () => {
      assert.throws(() => new Pool(options), (e) => e instanceof Class && e.code === code);
    });
  }

  it('defaults follow the core count; one bound given moves the other', () => {
    const p = pool({ maxThreads: 1 });
    assert.strictEqual(p.options.minThreads, 1);
    assert.strictEqual(p.options.maxQueue, Infinity);
    const q = pool({ minThreads: 1, maxQueue: 'auto', maxThreads: 3 });
    assert.strictEqual(q.options.maxQueue, 9);
    assert.strictEqual(q.options.filename, path.resolve(tasks));
  });

  it('validates run() options', async () => {
    const p = pool({ minThreads: 0 });
    await assert.rejects(p.run(1, { name: 5 }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(p.run(1, { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(p.run(1, null), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.strictEqual(p.threads.length, 0, 'nothing was started');
  });
});
