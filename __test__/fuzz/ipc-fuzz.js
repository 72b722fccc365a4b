'use strict';
// Fuzzes corral's IPC channels with misbehaving peers and checks that the parent survives:
//   node __test__/fuzz/ipc-fuzz.js [--frames 2000] [--seed 1] [--parallel 4]
// Child to parent: forked children (frames.py, python3, json and advanced) and cluster workers
// (a node worker handing its channel to frames.py) write random and mutated frames, with and
// without SCM_RIGHTS descriptors. Parent to child: the parent writes the same kinds of bytes
// into the channel of a node child, whose end is corral's. Meanwhile a healthy child answers
// pings. At the end: no uncaught error, every descriptor back (/proc/self/fd), memory flat,
// the healthy child still answering. Prints a JSON summary; exit code 0 when all hold.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { fork } = require('../../child_process.js');
const cluster = require('../../cluster.js');
const { advancedInJs } = require('../../lib/child_process/serialization');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const targetFrames = arg('frames', 2000);
const parallel = arg('parallel', 4);
let seed = arg('seed', 1);
const framesPy = path.join(__dirname, 'frames.py');
// The interpreter itself (not a version manager's shell shim in front of it).
const python = require('child_process').execFileSync('python3', ['-c', 'import sys; print(sys.executable)'],
  { encoding: 'utf8' }).trim();

// Valid frames the fuzzer starts from: user messages, a handle announcement, cluster's own.
const messages = [
  { fuzz: 1 }, 'a string', [1, 2, { deep: { er: [null, true, 1.5] } }],
  { cmd: 'NODE_HANDLE', type: 'net.Socket', msg: { hi: 1 }, key: 'x' },
  { cmd: 'NODE_CLUSTER', act: 'queryServer', address: '127.0.0.1', port: 0, addressType: 4, fd: -1, seq: 1 },
  { cmd: 'NODE_CLUSTER', act: 'online', seq: 2 },
];
const templates = {
  json: messages.map((m) => Buffer.from(`${JSON.stringify(m)}\n`).toString('hex')),
  advanced: messages.map((m) => advancedInJs.encode(m).toString('hex')),
};

const stats = {
  frames: 0, children: 0, clusterWorkers: 0, toChild: 0, errors: 0, warnings: 0,
  uncaught: [], healthyPings: 0, healthyFailures: 0, childCrashes: 0,
};
process.on('uncaughtException', (e) => stats.uncaught.push(String(e?.stack ?? e)));
process.on('warning', (w) => { if (w.code === 'ERR_CORRAL_IPC_BAD_FRAME') stats.warnings++; });

const fdTargets = () => fs.readdirSync('/proc/self/fd').map((fd) => {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`).replace(/\[\d+\]/, '');
  } catch {
    return '?';
  }
});
const openFds = () => fdTargets().length;
const rssMiB = () => process.memoryUsage().rss / 1048576;

// A child that answers pings, to show the parent keeps serving healthy children.
function startHealthy() {
  const child = fork(path.join(__dirname, 'echo-child.js'), [], { serialization: 'advanced' });
  let waiting = null;
  child.on('message', () => {
    if (waiting) clearTimeout(waiting);
    waiting = null;
    stats.healthyPings++;
  });
  const timer = setInterval(() => {
    if (waiting) return;
    waiting = setTimeout(() => { stats.healthyFailures++; waiting = null; }, 2000);
    child.send({ ping: Date.now() });
  }, 100);
  return () => {
    clearInterval(timer);
    if (waiting) clearTimeout(waiting);
    child.kill();
  };
}

function fuzzArgs(mode, count) {
  return [String(seed++), String(count), ...templates[mode]];
}

function runForked() {
  const mode = Math.random() < 0.5 ? 'json' : 'advanced';
  const child = fork(framesPy, fuzzArgs(mode, 200), { execPath: python, execArgv: [], serialization: mode, silent: true });
  return finish(child, child);
}

function runClusterWorker() {
  const mode = Math.random() < 0.5 ? 'json' : 'advanced';
  cluster.settings.serialization = mode;
  const worker = cluster.fork({ FUZZ_ARGS: fuzzArgs(mode, 200).join(' '), FUZZ_PYTHON: python });
  stats.clusterWorkers++;
  return finish(worker.process, worker);
}

// Parent to child: bytes of the parent's own into a node child's channel (corral's child end).
function runToChild() {
  const mode = Math.random() < 0.5 ? 'json' : 'advanced';
  const child = fork(path.join(__dirname, 'victim-child.js'), [], { serialization: mode, silent: true });
  stats.toChild++;
  child.once('message', () => {
    const frames = templates[mode].map((h) => Buffer.from(h, 'hex'));
    let written = 0;
    try {
      for (; written < 50; written++) {
        const pick = frames[crypto.randomInt(frames.length)];
        const bytes = Math.random() < 0.5 ? pick : crypto.randomBytes(crypto.randomInt(1, 64));
        fs.writeSync(child.channel.fd, bytes);
      }
    } catch {}
    stats.frames += written;
    if (child.connected) child.disconnect();
  });
  return finish(child, child, true);
}

function finish(child, reporter, victim = false) {
  stats.children++;
  if (Math.random() < 0.5) reporter.on('error', (e) => { if (e.code === 'ERR_CORRAL_IPC_BAD_FRAME') stats.errors++; });
  let out = '';
  child.stdout?.on('data', (d) => { out += d; });
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (victim) {
        // The victim must end by itself, not by a crash: it prints 'survived' when its channel
        // closes.
        if (!/survived/.test(out)) stats.childCrashes++;
      } else {
        stats.frames += Number.parseInt(out, 10) || 0;
      }
      resolve();
    });
  });
}

async function main() {
  cluster.setupPrimary({ exec: path.join(__dirname, 'cluster-fuzzer.js'), silent: true });
  const stopHealthy = startHealthy();
  // One of each first: what is opened once per process (not per child) is not a leak.
  await Promise.all([runForked(), runClusterWorker(), runToChild()]);
  await new Promise((r) => setTimeout(r, 300));
  const fdsBefore = openFds();
  const targetsBefore = fdTargets();
  const rssBefore = rssMiB();
  const running = new Set();
  // RSS after a GC at every tenth of the run: flat, or growing with the frames sent.
  const rssSamplesMiB = [];
  const heapSamplesMiB = [];
  // ... and what lives outside the JS heap but is V8's to count (ArrayBuffers, external strings).
  const externalSamplesMiB = [];
  // RSS grows with V8's committed heap (heapTotal: the young generation grows under the run's
  // allocation rate, as it does with node's own fork); what lives outside V8's heap must not.
  const heapTotalSamplesMiB = [];
  const outsideHeapSamplesMiB = [];
  let nextSample = targetFrames / 10;
  while (stats.frames < targetFrames) {
    if (stats.frames >= nextSample) {
      nextSample += targetFrames / 10;
      global.gc?.();
      rssSamplesMiB.push(Math.round(rssMiB()));
      heapSamplesMiB.push(Math.round(process.memoryUsage().heapUsed / 1048576));
      externalSamplesMiB.push(Math.round(process.memoryUsage().external / 1048576 * 10) / 10);
      const { rss, heapTotal } = process.memoryUsage();
      heapTotalSamplesMiB.push(Math.round(heapTotal / 1048576));
      outsideHeapSamplesMiB.push(Math.round((rss - heapTotal) / 1048576));
    }
    while (running.size < parallel) {
      const pick = Math.random();
      const job = process.env.ONLY === 'forked' ? runForked() : process.env.ONLY === 'cluster' ? runClusterWorker() : pick < 0.6 ? runForked() : pick < 0.8 ? runClusterWorker() : runToChild();
      running.add(job);
      job.then(() => running.delete(job));
    }
    await Promise.race(running);
  }
  await Promise.all(running);
  await new Promise((r) => setTimeout(r, 300));
  global.gc?.();
  const summary = {
    ...stats,
    uncaught: stats.uncaught.slice(0, 3),
    fdDelta: openFds() - fdsBefore,
    fdsAdded: (() => {
      const left = [...targetsBefore];
      return fdTargets().filter((t) => {
        const i = left.indexOf(t);
        if (i < 0) return true;
        left.splice(i, 1);
        return false;
      });
    })(),
    rssDeltaMiB: Math.round((rssMiB() - rssBefore) * 10) / 10,
    rssSamplesMiB: [Math.round(rssBefore), ...rssSamplesMiB, Math.round(rssMiB())],
    heapUsedSamplesMiB: heapSamplesMiB,
    externalSamplesMiB,
    heapTotalSamplesMiB,
    outsideHeapSamplesMiB,
  };
  // Flat: the JS heap in use, and what lies outside V8's heap, end where they began (2 and
  // 8 MiB of slack: one sample is one GC's view).
  const grew = (samples) => samples[samples.length - 1] - samples[0];
  summary.memoryFlat = heapSamplesMiB.length < 2 ||
    (grew(heapSamplesMiB) <= 2 && grew(outsideHeapSamplesMiB) <= 8);
  stopHealthy();
  console.log(JSON.stringify(summary));
  const ok = stats.uncaught.length === 0 && summary.fdDelta <= 0 && stats.healthyFailures === 0 &&
    stats.childCrashes === 0 && stats.healthyPings > 0 &&
    (summary.memoryFlat || targetFrames < 20000);  // a short run has too few samples to judge
  process.exitCode = ok ? 0 : 1;
}

main();
