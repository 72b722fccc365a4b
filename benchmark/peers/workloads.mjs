// The workloads that Node, corral, Bun and Deno can all run, through node:worker_threads and
// node:child_process (corral swapped in with --import corral/register). Prints one JSON line:
// { runtime, results: { name: value } } (lower is better for every value).
//   node workloads.mjs [--quick]        bun workloads.mjs        deno run -A workloads.mjs
import { Worker } from 'node:worker_threads';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const quick = process.argv.includes('--quick');
const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const now = () => performance.now();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const next = (emitter) => new Promise((resolve) => emitter.once('message', resolve));

async function startup() {
  const times = [];
  for (let i = 0; i < (quick ? 5 : 20); i++) {
    const t = now();
    const w = new Worker(here('echo-worker.mjs'));
    await next(w);  // 'ready'
    times.push(now() - t);
    await w.terminate();
  }
  return median(times);
}

async function roundTrip(w, message, count) {
  const t = now();
  for (let i = 0; i < count; i++) {
    w.postMessage(message);
    await next(w);
  }
  return ((now() - t) * 1000) / count;
}

async function messaging() {
  const w = new Worker(here('echo-worker.mjs'));
  await next(w);
  const n = quick ? 2000 : 10000;
  await roundTrip(w, { i: 0 }, 200);  // warm-up
  const roundTripUs = await roundTrip(w, { i: 1, s: 'x' }, n);
  // One-way: n messages, the worker answers with the count once it has them all.
  const m = quick ? 20000 : 100000;
  const t = now();
  w.postMessage({ count: m });
  for (let i = 0; i < m; i++) w.postMessage(i);
  await next(w);
  const oneWayNsPerMessage = ((now() - t) * 1e6) / m;
  // 1 MiB ArrayBuffer, transferred there and back.
  const k = quick ? 50 : 200;
  const t2 = now();
  let buf = new ArrayBuffer(1 << 20);
  for (let i = 0; i < k; i++) {
    w.postMessage({ buf }, [buf]);
    buf = (await next(w)).buf;
  }
  const transferUs = ((now() - t2) * 1000) / k;
  await w.terminate();
  return { roundTripUs, oneWayNsPerMessage, transferUs };
}

async function forkIpc() {
  const child = fork(here('echo-child.cjs'));
  await next(child);
  const n = quick ? 500 : 2000;
  const t = now();
  for (let i = 0; i < n; i++) {
    child.send({ i, s: 'ping' });
    await next(child);
  }
  const us = ((now() - t) * 1000) / n;
  child.disconnect();
  return us;
}

const results = {};
results['worker start-up (ms)'] = await startup();
const m = await messaging();
results['postMessage round trip (µs)'] = m.roundTripUs;
results['postMessage one-way (ns/message)'] = m.oneWayNsPerMessage;
results['1 MiB transfer round trip (µs)'] = m.transferUs;
results['fork IPC round trip (µs)'] = await forkIpc();
const runtime = globalThis.Bun ? `bun ${Bun.version}` : globalThis.Deno ? `deno ${Deno.version.deno}` : `node ${process.version}`;
console.log(JSON.stringify({ runtime, results }));
