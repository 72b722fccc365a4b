'use strict';
// corral/worker_threads vs node:worker_threads, same run, each case in fresh processes,
// alternating implementations; prints medians and corral/node ratios. The per-message cases
// time messages only: their worker has booted and said so before the clock starts (start-up is
// its own case), as in benchmark/peers/workloads.mjs.
//   node benchmark/worker_threads.js [--runs 5] [--case startup,roundtrip,...]
const { spawnSync } = require('child_process');
const path = require('path');
const { median, arg } = require('./common');

const cases = {
  // ms from new Worker() to the first message
  async startup(wt) {
    const times = [];
    for (let i = 0; i < 15; i++) {
      const t0 = process.hrtime.bigint();
      const w = new wt.Worker('require("worker_threads").parentPort.postMessage(1)', { eval: true });
      // Listened for at once: 'exit' may follow the last 'message' in the same tick.
      const exited = new Promise((r) => w.once('exit', r));
      await new Promise((r) => w.once('message', r));
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await exited;
    }
    return median(times);
  },
  // µs per small-message round trip (main -> worker -> main)
  async roundtrip(wt) {
    const w = await booted(wt, `parentPort.on('message', (m) => parentPort.postMessage(m));`);
    const n = 20000;
    const t = await pingPong(w, n, () => 1);
    await w.terminate();
    return (t / n) * 1000;
  },
  // messages/s from a worker to the main thread
  async oneway(wt) {
    const n = 1_000_000;
    const w = await booted(wt,
      `parentPort.once('message', () => { for (let i = 0; i < ${n}; i++) parentPort.postMessage(i); });`);
    let got = 0;
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      w.on('message', () => { if (++got === n) resolve(); });
      w.postMessage('go');
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    await w.terminate();
    return n / secs;
  },
  // µs per 1 MiB ArrayBuffer transfer round trip
  async transfer(wt) {
    const w = await booted(wt, `parentPort.on('message', (ab) => parentPort.postMessage(ab, [ab]));`);
    let ab = new ArrayBuffer(1 << 20);
    const n = 5000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      w.postMessage(ab, [ab]);
      ab = await new Promise((r) => w.once('message', r));
    }
    const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
    await w.terminate();
    return us;
  },
  // messages/s through a MessageChannel on one thread (port1 -> port2)
  async channel(wt) {
    const n = 1_000_000;
    const { port1, port2 } = new wt.MessageChannel();
    let got = 0;
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      port2.on('message', () => { if (++got === n) resolve(); });
      for (let i = 0; i < n; i++) port1.postMessage(i);
    });
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    port1.close();
    return n / secs;
  },
  // MiB of RSS per idle worker (20 workers waiting for messages)
  async rss(wt) {
    const n = 20;
    global.gc?.();
    await new Promise((r) => setTimeout(r, 100));
    const before = process.memoryUsage().rss;
    const workers = [];
    for (let i = 0; i < n; i++) {
      const w = new wt.Worker(`const { parentPort } = require('worker_threads');
        parentPort.on('message', () => {}); parentPort.postMessage('up');`, { eval: true });
      await new Promise((r) => w.once('message', r));
      workers.push(w);
    }
    await new Promise((r) => setTimeout(r, 300));
    const per = (process.memoryUsage().rss - before) / n / 1048576;
    await Promise.all(workers.map((w) => w.terminate()));
    return per;
  },
};

const better = { startup: 'lower', roundtrip: 'lower', oneway: 'higher', transfer: 'lower', channel: 'higher', rss: 'lower' };
const units = { startup: 'ms', roundtrip: 'µs', oneway: 'msg/s', transfer: 'µs', channel: 'msg/s', rss: 'MiB' };
const targets = { startup: 0.8, roundtrip: 0.7, oneway: 2.5, transfer: 0.5, channel: 2.0, rss: 1.0 };

// A worker running `code` (with `parentPort` in scope), once it has booted and said so.
async function booted(wt, code) {
  const w = new wt.Worker(`const { parentPort } = require('worker_threads');
    ${code}
    parentPort.postMessage('ready');`, { eval: true });
  await new Promise((r) => w.once('message', r));
  return w;
}

async function pingPong(w, n, make) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    w.postMessage(make(i));
    await new Promise((r) => w.once('message', r));
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function child() {
  const impl = arg('impl');
  const wt = impl === 'corral' ? require(path.join(__dirname, '..', 'worker_threads')) : require('worker_threads');
  const value = await cases[arg('case')](wt);
  process.stdout.write(JSON.stringify(value));
  process.exit(0);
}

function main() {
  const runs = Number(arg('runs', 5));
  const selected = arg('case', Object.keys(cases).join(',')).split(',');
  console.log(`node ${process.version}, ${runs} runs per case, medians (corral/node ratio; target)`);
  for (const name of selected) {
    const results = { node: [], corral: [] };
    for (let r = 0; r < runs; r++) {
      for (const impl of r % 2 ? ['corral', 'node'] : ['node', 'corral']) {
        // --expose-gc only where a case collects: the flag makes V8 reject Node's code cache of its
        // built-in modules, so every built-in the process loads would compile from source.
        const flags = name === 'rss' ? ['--expose-gc'] : [];
        const out = spawnSync(process.execPath, [...flags, __filename, '--child', '--impl', impl, '--case', name],
          { encoding: 'utf8', timeout: 120000 });
        if (out.status !== 0) throw new Error(`${impl} ${name} failed: ${out.stderr}`);
        results[impl].push(JSON.parse(out.stdout));
      }
    }
    const n = median(results.node);
    const c = median(results.corral);
    const ratio = c / n;
    const target = targets[name];
    const met = better[name] === 'lower' ? ratio <= target : ratio >= target;
    const fmt = (v) => (v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
    console.log(`${name.padEnd(10)} node ${fmt(n).padStart(10)} ${units[name].padEnd(5)} corral ${fmt(c).padStart(10)} ` +
      `${units[name].padEnd(5)} ratio ${ratio.toFixed(2)} (target ${better[name] === 'lower' ? '<=' : '>='} ${target}) ${met ? 'met' : 'NOT met'}`);
  }
}

if (process.argv.includes('--child')) child();
else main();
