'use strict';
// corral/shared across processes: one counter hit by processes x threads, a cross-process wake,
// a mutex under contention, a 1 M message channel, and nothing left behind after kill -9.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { fork } = require('child_process');
const shared = require('../shared');

const fixtures = path.join(__dirname, 'fixtures', 'shared');

// Runs a fixture as a child process; resolves with its exit code. Killed if it overstays.
function run(file, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(fixtures, file), args, { stdio: 'inherit', ...options });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ? signal : code);
    });
  });
}

test('2 processes x 2 threads x 1e6 Atomics.add end exactly at 4e6', { timeout: 120000 }, async () => {
  const name = `t-counter-${process.pid}`;
  const sab = shared.create(8, { name });
  const counter = new Int32Array(sab);
  // One child opens it by name, the other by handle; each with corral's worker threads.
  const codes = await Promise.all([
    run('counter-child.js', ['name', name, '2', '1000000']),
    run('counter-child.js', ['handle', shared.handle(sab), '2', '1000000']),
  ]);
  assert.deepStrictEqual(codes, [0, 0]);
  assert.strictEqual(Atomics.load(counter, 0), 4000000);
  // Again with an inherited fd and node's own worker threads, on top of the same counter.
  const fd = shared.describe(sab).fd;
  const more = await Promise.all([
    run('counter-child.js', ['fd', '3', '2', '250000', 'node'], { stdio: ['inherit', 'inherit', 'inherit', fd, 'ipc'] }),
    run('counter-child.js', ['fd', '3', '2', '250000', 'corral'], { stdio: ['inherit', 'inherit', 'inherit', fd, 'ipc'] }),
  ]);
  assert.deepStrictEqual(more, [0, 0]);
  assert.strictEqual(Atomics.load(counter, 0), 5000000);
  shared.unlink(name);
});

async function wakeAcrossProcesses(mode) {
  const name = `t-wake-${mode}-${process.pid}`;
  const a = new Int32Array(shared.create(16, { name }));
  const child = fork(path.join(fixtures, 'waiter-child.js'), [name, mode], { stdio: 'inherit' });
  const reply = new Promise((resolve) => child.once('message', resolve));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kill = setTimeout(() => child.kill('SIGKILL'), 30000);
  try {
    while (Atomics.load(a, 1) === 0) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, 60)); // the child sits in its wait meanwhile
    // The word never changes, and a V8 Atomics.notify does not reach the child: only the
    // cross-process futex wake (counted by notify's return) can end its wait.
    assert.strictEqual(Atomics.notify(a, 0), 0);
    let woke = 0;
    const deadline = Date.now() + 10000;
    while (woke === 0 && Date.now() < deadline) {
      woke = shared.notify(a, 0, 1);
      if (woke === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.strictEqual(woke, 1, 'the child was asleep in wait and got woken');
    const msg = await reply;
    assert.strictEqual(msg.outcome, 'ok');
    assert.strictEqual(msg.value, 0);
    assert.strictEqual(await exited, 0);
    return msg;
  } finally {
    clearTimeout(kill);
    shared.unlink(name);
  }
}

test('a process blocked in wait is woken by another process\'s notify', { timeout: 60000 }, async () => {
  await wakeAcrossProcesses('sync');
});

test('waitAsync in another process is woken by notify without blocking its event loop', { timeout: 60000 }, async () => {
  const msg = await wakeAcrossProcesses('async');
  assert.ok(msg.ticks > 0, 'the waiting process kept running timers');
});

test('the Mutex keeps a shared counter exact under contention (2 processes x 2 threads)', { timeout: 120000 }, async () => {
  const name = `t-lock-${process.pid}`;
  const a = new Int32Array(shared.create(16, { name }));
  const n = 100000;
  const codes = await Promise.all([
    run('lock-child.js', [name, '2', String(n)]),
    run('lock-child.js', [name, '2', String(n)]),
  ]);
  assert.deepStrictEqual(codes, [0, 0]);
  assert.strictEqual(a[1], 4 * n);
  assert.strictEqual(Atomics.load(a, 0), 0, 'unlocked at the end');
  shared.unlink(name);
});

test('the channel delivers 1 M messages between two processes in order, none lost', { timeout: 120000 }, async () => {
  const name = `t-chan-${process.pid}`;
  const ch = shared.Channel.create(1 << 16, { name });
  const total = 1000000;
  const producer = run('channel-producer.js', [name, 'p', String(total)]);
  let received = 0;
  let bytes = 0;
  // Receive without starving the child's exit handling: chunks of blocking receives.
  while (received < total) {
    const msg = ch.recv(30000);
    assert.ok(msg !== null, `timed out after ${received} messages`);
    const s = msg.toString('latin1');
    const colon = s.indexOf(':', 2);
    const seq = Number(s.slice(2, colon));
    if (seq !== received || s.length - colon - 1 !== received % 41) {
      assert.fail(`message ${received} out of order or damaged: ${s}`);
    }
    bytes += msg.length;
    received++;
  }
  assert.strictEqual(await producer, 0);
  assert.strictEqual(ch.tryRecv(), undefined);
  assert.ok(bytes > total * 20);
  shared.unlink(name);
});

test('several producer processes into one channel: every message, each stream in order', { timeout: 120000 }, async () => {
  const name = `t-mpsc-${process.pid}`;
  const ch = shared.Channel.create(4096, { name });
  const per = 50000;
  const producers = ['a', 'b', 'c'].map((id) => run('channel-producer.js', [name, id, String(per)]));
  const next = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < per * 3; i++) {
    const msg = ch.recv(30000);
    assert.ok(msg !== null, `timed out after ${i}`);
    const [id, seq] = msg.toString().split(':');
    assert.strictEqual(Number(seq), next[id], `stream ${id}`);
    next[id]++;
  }
  assert.deepStrictEqual(await Promise.all(producers), [0, 0, 0]);
  assert.deepStrictEqual(next, { a: per, b: per, c: per });
  shared.unlink(name);
});

test('an async receiver (for await) gets every message from two processes through a tiny ring', { timeout: 120000 }, async () => {
  const name = `t-async-${process.pid}`;
  const ch = shared.Channel.create(256, { name });
  const per = 20000;
  const producers = ['a', 'b'].map((id) => run('channel-producer.js', [name, id, String(per)]));
  const next = { a: 0, b: 0 };
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  let n = 0;
  const done = Promise.all(producers).then((codes) => {
    assert.deepStrictEqual(codes, [0, 0]);
    ch.close();
  });
  for await (const msg of ch) {
    const [id, seq] = msg.toString().split(':');
    assert.strictEqual(Number(seq), next[id], `stream ${id}`);
    next[id]++;
    n++;
  }
  clearInterval(timer);
  await done;
  assert.strictEqual(n, 2 * per);
  assert.deepStrictEqual(next, { a: per, b: per });
  assert.ok(ticks > 0, 'timers ran while receiving');
  shared.unlink(name);
});

function mapsMentioning(label) {
  const found = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let maps;
    try { maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8'); } catch { continue; }
    if (maps.includes(label)) found.push(Number(pid));
  }
  return found;
}

test('nothing is left behind after kill -9 of the primary', { timeout: 60000 }, async () => {
  const shmBefore = fs.readdirSync('/dev/shm').filter((f) => f.startsWith('corral'));
  const primary = fork(path.join(fixtures, 'holder-child.js'), ['primary'], { stdio: 'inherit' });
  const guard = setTimeout(() => primary.kill('SIGKILL'), 30000);
  const info = await new Promise((resolve) => primary.once('message', resolve));
  const label = `corral-shared:kill-test-${primary.pid}`;
  try {
    assert.deepStrictEqual(mapsMentioning(label).sort(), [primary.pid, info.child].sort());
    primary.kill('SIGKILL');
    await new Promise((r) => primary.once('exit', r));
    // The child still maps the region; once it is gone too, nothing remains anywhere.
    assert.deepStrictEqual(mapsMentioning(label), [info.child]);
  } finally {
    clearTimeout(guard);
    try { process.kill(info.child, 'SIGKILL'); } catch {}
  }
  const deadline = Date.now() + 5000;
  while (mapsMentioning(label).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepStrictEqual(mapsMentioning(label), []);
  assert.deepStrictEqual(mapsMentioning(`corral-shared:kill-chan-${primary.pid}`), []);
  const shmAfter = fs.readdirSync('/dev/shm').filter((f) => f.startsWith('corral'));
  assert.deepStrictEqual(shmAfter, shmBefore);
});
