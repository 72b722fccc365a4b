'use strict';
// A cluster worker killed with SIGKILL under load, one new connection per request
// (`Connection: close`, as the Express/Fastify runs): how many requests fail, corral's
// cluster against node's, round-robin, 2 workers. Requests the killed worker was processing
// can fail on both; connections still waiting for it should be served by the other worker.
//   node benchmark/worker-kill.js [--runs 5] [--conns 50] [--seconds 4] [--work-ms 1]
const { spawn } = require('child_process');
const http = require('http');
const path = require('path');
const { median, arg } = require('./common');

const root = path.join(__dirname, '..');
const runs = Number(arg('runs', 5));
const conns = Number(arg('conns', 50));
const seconds = Number(arg('seconds', 4));
const workMs = Number(arg('work-ms', 1));

function startServer(impl) {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env, NODE_CLUSTER_SCHED_POLICY: 'rr', WORK_MS: String(workMs),
      CLUSTER: impl === 'corral' ? path.join(root, 'cluster.js') : 'cluster',
    };
    const child = spawn(process.execPath, [path.join(__dirname, 'cluster-server.js')], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (d) => {
      const m = /ready (\d+) pids ([\d,]+)/.exec(String(d));
      if (m) resolve({ child, port: Number(m[1]), pids: m[2].split(',').map(Number) });
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

// `conns` loops, each sending one request per new connection until the deadline.
function load(port, deadline) {
  const counts = { ok: 0, failed: 0, errors: {} };
  const one = () => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { Connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) counts.ok++;
        else counts.failed++;
        resolve();
      });
      res.on('error', () => { counts.failed++; resolve(); });
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      counts.failed++;
      counts.errors[err.code || err.message] = (counts.errors[err.code || err.message] || 0) + 1;
      resolve();
    });
  });
  const loop = async () => { while (Date.now() < deadline) await one(); };
  return Promise.all(Array.from({ length: conns }, loop)).then(() => counts);
}

async function once(impl) {
  const { child, port, pids } = await startServer(impl);
  await load(port, Date.now() + 500); // warm-up
  const start = Date.now();
  const killer = setTimeout(() => process.kill(pids[0], 'SIGKILL'), (seconds * 1000) / 2);
  const counts = await load(port, start + seconds * 1000);
  clearTimeout(killer);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return counts;
}

(async () => {
  console.log(`node ${process.version}: SIGKILL of 1 of 2 workers after ${seconds / 2} s of ${seconds} s, ` +
    `${conns} connections, Connection: close, ${workMs} ms per request, ${runs} runs`);
  const results = { node: [], corral: [] };
  for (let r = 0; r < runs; r++) {
    for (const impl of r % 2 ? ['corral', 'node'] : ['node', 'corral']) {
      const counts = await once(impl);
      results[impl].push(counts);
      console.log(`  ${impl.padEnd(6)} run ${r + 1}: ${counts.ok} ok, ${counts.failed} failed ${JSON.stringify(counts.errors)}`);
    }
  }
  for (const impl of ['node', 'corral']) {
    const failed = results[impl].map((c) => c.failed);
    console.log(`${impl.padEnd(6)} failed requests: median ${median(failed)} (min ${Math.min(...failed)}, max ${Math.max(...failed)}), ` +
      `served median ${median(results[impl].map((c) => c.ok))}`);
  }
})();
