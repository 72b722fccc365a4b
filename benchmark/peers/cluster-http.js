'use strict';
// Keep-alive HTTP load on benchmark/peers/cluster-server.mjs run by one runtime: 50 connections
// from this process for a few seconds after a warm-up. Prints one JSON line with the time per
// request (wall) and the servers' CPU per request (primary and workers, from /proc), both in
// µs (lower is better), as benchmark/peers/workloads.mjs does.
//   node cluster-http.js [--quick] -- <runtime command and args, without the script>
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');

const quick = process.argv.includes('--quick');
const runtime = process.argv.slice(process.argv.indexOf('--') + 1).filter((a) => a !== '--quick');
const seconds = quick ? 2 : 4;
const conns = 50;

function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);  // utime, stime
    } catch {}
  }
  return ticks / 100;  // USER_HZ
}

function start() {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = runtime;
    const child = spawn(cmd, [...args, path.join(__dirname, 'cluster-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+) pids ([\d,]+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), pids: m[2].split(',').map(Number) });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function load(port, ms) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const deadline = Date.now() + ms;
  let served = 0;
  const one = () => new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => { served++; resolve(); });
    }).on('error', resolve);
  });
  const loop = async () => { while (Date.now() < deadline) await one(); };
  return Promise.all(Array.from({ length: conns }, loop)).then(() => { agent.destroy(); return served; });
}

(async () => {
  const { child, port, pids } = await start();
  await load(port, 1000);  // warm-up
  const cpu0 = cpuSeconds(pids);
  const t0 = process.hrtime.bigint();
  const served = await load(port, seconds * 1000);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(pids) - cpu0;
  child.kill('SIGKILL');
  for (const pid of pids.slice(1)) {
    try { process.kill(pid, 'SIGKILL'); } catch {}
  }
  console.log(JSON.stringify({ results: {
    'cluster HTTP, time per request (µs, 50 keep-alive connections)': (wall * 1e6) / served,
    'cluster HTTP, server CPU per request (µs)': (cpu * 1e6) / served,
  } }));
})().catch((e) => { console.error(e.message); process.exit(1); });
