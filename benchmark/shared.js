'use strict';
// corral/shared benchmark: cross-process wake latency, ring-channel throughput vs process.send,
// shared-counter increments vs sending increments to the primary. Medians of RUNS runs.
//
//   node benchmark/shared.js            (RUNS=5 by default; RUNS=3 node benchmark/shared.js)
const { fork } = require('child_process');
const shared = require('../shared');

const RUNS = Number(process.env.RUNS || 5);
const WAKES = 5000;
const RING_MSGS = 1000000;
const SEND_MSGS = 200000;
const ROUND_TRIPS = 20000;
const COUNTER_MS = 1000;
const PAYLOAD = 'x'.repeat(16);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const nowUs = () => Number(process.hrtime.bigint()) / 1e3;
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1));

function child(role, args, extra = {}) {
  const c = fork(__filename, ['child', role, ...args], { stdio: 'inherit', ...extra });
  c.exited = new Promise((resolve) => c.once('exit', resolve));
  return c;
}
const nextMessage = (c) => new Promise((resolve) => c.once('message', resolve));

// ---------- children ----------
function runChild(role, args) {
  if (role === 'wake') {
    // Sleeps on word 0 for ping i; on waking, measures now - the notifier's timestamp (both
    // clocks are CLOCK_MONOTONIC). Acks on word 1. mode: sync wait or waitAsync.
    const sab = shared.open(args[0]);
    const a = new Int32Array(sab);
    const stamp = new BigInt64Array(sab, 8, 1);
    const n = Number(args[1]);
    const lat = [];
    let slept = 0;
    const woke = (i) => {
      lat.push(Number(process.hrtime.bigint() - Atomics.load(stamp, 0)) / 1e3);
      Atomics.store(a, 1, i);
      shared.notify(a, 1, 1);
    };
    const finish = () => process.send({ lat, slept }, () => process.exit(0));
    if (args[2] === 'async') {
      let i = 1;
      const step = () => {
        if (i > n) return finish();
        const r = shared.waitAsync(a, 0, i - 1);
        if (!r.async) { woke(i++); return step(); }
        slept++;
        r.value.then(() => { woke(i++); step(); });
      };
      step();
      return;
    }
    for (let i = 1; i <= n; i++) {
      while (Atomics.load(a, 0) < i) if (shared.wait(a, 0, i - 1) === 'ok') slept++;
      woke(i);
    }
    finish();
    return;
  }
  if (role === 'send-stamp') {
    const lat = [];
    process.on('message', (m) => {
      if (m === 'end') return process.send({ lat }, () => process.exit(0));
      lat.push(Number(process.hrtime.bigint() - BigInt(m)) / 1e3);
      process.send('ack');
    });
    return;
  }
  if (role === 'ring-producer') {
    const ch = shared.Channel.open(args[0]);
    const n = Number(args[1]);
    const msg = Buffer.from(PAYLOAD);
    for (let i = 0; i < n; i++) ch.send(msg);
    process.exit(0);
  }
  if (role === 'ring-echo') {
    const inbox = shared.Channel.open(args[0]);
    const outbox = shared.Channel.open(args[1]);
    for (let i = 0; i < Number(args[2]); i++) outbox.send(inbox.recv());
    process.exit(0);
  }
  if (role === 'send-producer') {
    const n = Number(args[0]);
    process.once('message', () => {
      for (let i = 0; i < n; i++) process.send(PAYLOAD);
    });
    process.once('disconnect', () => process.exit(0));
    return;
  }
  if (role === 'send-echo') {
    process.on('message', (m) => process.send(m));
    process.once('disconnect', () => process.exit(0));
    return;
  }
  if (role === 'count-shared') {
    const a = new Int32Array(shared.open(args[0]));
    process.once('message', () => {
      const end = performance.now() + COUNTER_MS;
      let mine = 0;
      while (performance.now() < end) {
        for (let k = 0; k < 1000; k++) Atomics.add(a, 0, 1);
        mine += 1000;
      }
      process.send(mine, () => process.exit(0));
    });
    return;
  }
  if (role === 'count-send') {
    process.once('message', () => {
      const end = performance.now() + COUNTER_MS;
      let mine = 0;
      const burst = () => {
        for (let k = 0; k < 100; k++) process.send(1);
        mine += 100;
        if (performance.now() < end) setImmediate(burst);
        else process.send({ done: mine }, () => process.disconnect());
      };
      burst();
    });
    return;
  }
  throw new Error(`unknown role ${role}`);
}

// ---------- measurements ----------
let seq = 0;
const uniq = (what) => `bench-${what}-${process.pid}-${seq++}`;

// One-way wake latency: from the notify call to the sleeping waiter running, in the other
// process. Paced (about every 300 us) so that the waiter is asleep when notified.
async function wakeLatency(mode) {
  const name = uniq('wake');
  const sab = shared.create(16, { name });
  const a = new Int32Array(sab);
  const stamp = new BigInt64Array(sab, 8, 1);
  const pace = new Int32Array(shared.create(4));
  const c = child('wake', [name, String(WAKES), mode]);
  const result = nextMessage(c);
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 1; i <= WAKES; i++) {
    shared.wait(pace, 0, 0, 0.3);
    Atomics.store(stamp, 0, process.hrtime.bigint());
    Atomics.store(a, 0, i);
    shared.notify(a, 0, 1);
    while (Atomics.load(a, 1) < i) shared.wait(a, 1, i - 1, 5000);
  }
  const { lat, slept } = await result;
  await c.exited;
  shared.unlink(name);
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), asleep: slept / WAKES };
}

// The same for a process.send message (one way, paced likewise).
async function sendLatency() {
  const c = child('send-stamp', []);
  const n = 2000;
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 0));
    c.send(String(process.hrtime.bigint()));
    await nextMessage(c);
  }
  const result = nextMessage(c);
  c.send('end');
  const { lat } = await result;
  await c.exited;
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

async function ringThroughput() {
  const name = uniq('ring');
  const ch = shared.Channel.create(1 << 20, { name });
  const c = child('ring-producer', [name, String(RING_MSGS)]);
  ch.recv();
  const t0 = nowUs();
  for (let i = 1; i < RING_MSGS; i++) ch.recv();
  const rate = (RING_MSGS - 1) / ((nowUs() - t0) / 1e6);
  await c.exited;
  shared.unlink(name);
  return rate;
}

async function sendThroughput() {
  const c = child('send-producer', [String(SEND_MSGS)]);
  let got = 0;
  let t0 = 0;
  const rate = await new Promise((resolve) => {
    c.on('message', () => {
      if (++got === 1) t0 = nowUs();
      if (got === SEND_MSGS) resolve((SEND_MSGS - 1) / ((nowUs() - t0) / 1e6));
    });
    c.send('go');
  });
  c.disconnect();
  await c.exited;
  return rate;
}

async function ringRoundTrips() {
  const [n1, n2] = [uniq('rt-in'), uniq('rt-out')];
  const out = shared.Channel.create(1 << 16, { name: n1 });
  const back = shared.Channel.create(1 << 16, { name: n2 });
  const c = child('ring-echo', [n1, n2, String(ROUND_TRIPS)]);
  const msg = Buffer.from(PAYLOAD);
  const t0 = nowUs();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    out.send(msg);
    back.recv();
  }
  const rate = ROUND_TRIPS / ((nowUs() - t0) / 1e6);
  await c.exited;
  shared.unlink(n1);
  shared.unlink(n2);
  return rate;
}

async function sendRoundTrips() {
  const c = child('send-echo', []);
  const n = ROUND_TRIPS / 2;
  const t0 = nowUs();
  for (let i = 0; i < n; i++) {
    c.send(PAYLOAD);
    await nextMessage(c);
  }
  const rate = n / ((nowUs() - t0) / 1e6);
  c.disconnect();
  await c.exited;
  return rate;
}

async function counterShared() {
  const name = uniq('count');
  const a = new Int32Array(shared.create(8, { name }));
  const kids = [child('count-shared', [name]), child('count-shared', [name])];
  await new Promise((r) => setTimeout(r, 100));
  const t0 = nowUs();
  const counts = kids.map(nextMessage);
  kids.forEach((k) => k.send('go'));
  const mine = (await Promise.all(counts)).reduce((x, y) => x + y, 0);
  const secs = (nowUs() - t0) / 1e6;
  await Promise.all(kids.map((k) => k.exited));
  if (Atomics.load(a, 0) !== mine) throw new Error(`counter ${Atomics.load(a, 0)} != ${mine}`);
  shared.unlink(name);
  return mine / secs;
}

async function counterSend() {
  const kids = [child('count-send', []), child('count-send', [])];
  await new Promise((r) => setTimeout(r, 100));
  let counter = 0;
  let sent = 0;
  const t0 = nowUs();
  await Promise.all(kids.map((k) => new Promise((resolve) => {
    k.on('message', (m) => {
      if (m === 1) counter++;
      else sent += m.done;
    });
    k.once('disconnect', resolve);
    k.send('go');
  })));
  const secs = (nowUs() - t0) / 1e6;
  await Promise.all(kids.map((k) => k.exited));
  if (counter !== sent) throw new Error(`primary counted ${counter} of ${sent}`);
  return counter / secs;
}

async function main() {
  const results = {};
  const add = (k, v) => (results[k] ||= []).push(v);
  for (let r = 0; r < RUNS; r++) {
    const w = await wakeLatency('sync');
    add('wakeP50', w.p50); add('wakeP99', w.p99); add('asleep', w.asleep);
    const wa = await wakeLatency('async');
    add('asyncP50', wa.p50); add('asyncP99', wa.p99); add('asyncAsleep', wa.asleep);
    const s = await sendLatency();
    add('sendP50', s.p50); add('sendP99', s.p99);
    add('ring', await ringThroughput());
    add('send', await sendThroughput());
    add('ringRt', await ringRoundTrips());
    add('sendRt', await sendRoundTrips());
    add('countShared', await counterShared());
    add('countSend', await counterSend());
    process.stderr.write(`run ${r + 1}/${RUNS} done\n`);
  }
  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
  console.log(`corral/shared benchmark (node ${process.version}, ${require('os').cpus().length} CPUs, median of ${RUNS} runs)`);
  console.log('');
  console.log('cross-process wake latency (notify call -> sleeping waiter running in the other process)');
  console.log(`  shared.wait / notify          p50 ${m.wakeP50.toFixed(1)} us   p99 ${m.wakeP99.toFixed(1)} us   (target p50 <= 50 us; waiter asleep in ${(m.asleep * 100).toFixed(0)}% of ${WAKES})`);
  console.log(`  shared.waitAsync / notify     p50 ${m.asyncP50.toFixed(1)} us   p99 ${m.asyncP99.toFixed(1)} us   (waiter asleep in ${(m.asyncAsleep * 100).toFixed(0)}%)`);
  console.log(`  process.send message arrival p50 ${m.sendP50.toFixed(1)} us   p99 ${m.sendP99.toFixed(1)} us   -> wait/notify ${(m.sendP50 / m.wakeP50).toFixed(1)}x faster at p50`);
  console.log('');
  console.log(`messages between two processes (${PAYLOAD.length}-byte payload)`);
  console.log(`  ring channel, one way       ${fmt(m.ring)} msg/s`);
  console.log(`  process.send, one way       ${fmt(m.send)} msg/s   -> ring ${(m.ring / m.send).toFixed(1)}x (target >= 10x)`);
  console.log(`  ring channel, round trips   ${fmt(m.ringRt)} /s`);
  console.log(`  process.send, round trips   ${fmt(m.sendRt)} /s   -> ring ${(m.ringRt / m.sendRt).toFixed(1)}x`);
  console.log(`  ring one-way msg/s vs process.send round trips/s: ${(m.ring / m.sendRt).toFixed(1)}x`);
  console.log('');
  console.log(`shared counter, 2 processes incrementing for ${COUNTER_MS} ms`);
  console.log(`  Atomics.add on shared memory ${fmt(m.countShared)} increments/s`);
  console.log(`  process.send to the primary  ${fmt(m.countSend)} increments/s   -> shared ${(m.countShared / m.countSend).toFixed(1)}x`);
}

if (process.argv[2] === 'child') runChild(process.argv[3], process.argv.slice(4));
else main().catch((err) => { console.error(err); process.exit(1); });
