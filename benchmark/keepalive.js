'use strict';
// Keep-alive HTTP through a 2-worker cluster: requests served per CPU second of the server's
// processes (primary and workers, from /proc/<pid>/stat), corral's cluster against node's, in
// alternating runs. The load comes from this process (50 keep-alive connections), so on a
// small machine the absolute rate is the client's as much as the server's: the per-CPU-second
// figure is the one to compare.
//   node benchmark/keepalive.js [--runs 5] [--conns 50] [--seconds 4]
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { median, arg } = require('./common');

const root = path.join(__dirname, '..');
const runs = Number(arg('runs', 5));
const conns = Number(arg('conns', 50));
const seconds = Number(arg('seconds', 4));
const ticks = 100; // USER_HZ on Linux

function cpuSeconds(pids) {
  let total = 0;
  for (const pid of pids) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return total / ticks;
}

function startServer(impl) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr', CLUSTER: impl === 'corral' ? path.join(root, 'cluster.js') : 'cluster' };
    const child = spawn(process.execPath, [path.join(__dirname, 'cluster-server.js')], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (d) => {
      const m = /ready (\d+) pids ([\d,]+)/.exec(String(d));
      if (m) resolve({ child, port: Number(m[1]), pids: [child.pid, ...m[2].split(',').map(Number)] });
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

function load(port, ms) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const deadline = Date.now() + ms;
  let ok = 0;
  const one = () => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => { ok++; resolve(); });
    });
    req.on('error', resolve);
  });
  const loop = async () => { while (Date.now() < deadline) await one(); };
  return Promise.all(Array.from({ length: conns }, loop)).then(() => { agent.destroy(); return ok; });
}

async function once(impl) {
  const { child, port, pids } = await startServer(impl);
  await load(port, 1000); // warm-up
  const cpu0 = cpuSeconds(pids);
  const t0 = Date.now();
  const served = await load(port, seconds * 1000);
  const wall = (Date.now() - t0) / 1000;
  const cpu = cpuSeconds(pids) - cpu0;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return { rps: served / wall, perCpu: served / cpu, cpu };
}

(async () => {
  console.log(`node ${process.version}: keep-alive HTTP, 2 workers (rr), ${conns} connections, ${seconds} s, ${runs} alternating runs`);
  const results = { node: [], corral: [] };
  for (let r = 0; r < runs; r++) {
    for (const impl of r % 2 ? ['corral', 'node'] : ['node', 'corral']) {
      const x = await once(impl);
      results[impl].push(x);
      console.log(`  ${impl.padEnd(6)} ${x.rps.toFixed(0).padStart(6)} req/s, server CPU ${x.cpu.toFixed(2)} s, ${x.perCpu.toFixed(0)} req per CPU s`);
    }
  }
  const m = (impl, key) => median(results[impl].map((x) => x[key]));
  for (const impl of ['node', 'corral']) {
    console.log(`${impl.padEnd(6)} median ${m(impl, 'rps').toFixed(0)} req/s, ${m(impl, 'perCpu').toFixed(0)} req per CPU s`);
  }
  console.log(`ratio corral/node: req per CPU s ${(m('corral', 'perCpu') / m('node', 'perCpu')).toFixed(2)} (target >= 1.0), req/s ${(m('corral', 'rps') / m('node', 'rps')).toFixed(2)}`);
})();
