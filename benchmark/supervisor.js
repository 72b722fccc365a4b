'use strict';
// A 2-worker HTTP app (examples/plain-server.js, no cluster code) under load for --seconds,
// supervised by corral (`corral start -i 2`) and by PM2 (`pm2 start -i 2`, cluster mode) in the
// same run. During the load: two rolling reloads (`corral reload` / `pm2 reload`), then a
// `kill -9` of one worker. Reported per phase: failed requests (socket errors and non-2xx) and
// the longest time without any response. Keep-alive on and off.
//   node benchmark/supervisor.js [--runs 3] [--seconds 10] [--conns 16] [--delay-ms 2]
const { spawn, execFile } = require('child_process');
const { promisify } = require('util');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { median, arg } = require('./common');

const root = path.join(__dirname, '..');
const app = path.join(root, 'examples', 'plain-server.js');
const runs = Number(arg('runs', 3));
const seconds = Number(arg('seconds', 10));
const conns = Number(arg('conns', 16));
const delayMs = Number(arg('delay-ms', 2));
const pm2Bin = path.join(root, 'node_modules', '.bin', 'pm2');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function waitUp(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      http.get({ host: '127.0.0.1', port, agent: false }, (res) => { res.resume(); resolve(res.statusCode === 200); })
        .on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing answers on ${port}`);
}

// The two supervisors behind one interface: start, reload, a worker pid, stop.
function corral(port) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-bench-'));
  const env = { ...process.env, PORT: String(port), DELAY_MS: String(delayMs), CORRAL_SOCKET_DIR: dir };
  const cli = path.join(root, 'bin', 'corral.js');
  let child;
  // (never a synchronous call: it would stop the load generator too)
  const run = async (args) => (await promisify(execFile)(process.execPath, [cli, ...args], { env })).stdout;
  return {
    name: 'corral',
    async start() {
      child = spawn(process.execPath, [cli, 'start', app, '-i', '2', '--name', 'bench'], { env, stdio: 'ignore' });
      await waitUp(port);
      await sleep(300);
    },
    reload: async () => run(['reload', 'bench']),
    workerPid: async () => JSON.parse(await run(['status', 'bench', '--json'])).workers[0].pid,
    async stop() {
      await run(['stop', 'bench']);
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pm2(port) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'pm2-bench-'));
  const env = { ...process.env, PORT: String(port), DELAY_MS: String(delayMs), PM2_HOME: home };
  const run = async (args) => (await promisify(execFile)(pm2Bin, args, { env, maxBuffer: 64 << 20 })).stdout;
  // `pm2 start` and `pm2 kill` leave (or end) the daemon: its inherited pipes would never close.
  const detachedRun = (args) => new Promise((resolve, reject) => {
    spawn(pm2Bin, args, { env, stdio: 'ignore' }).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pm2 ${args[0]}: ${code}`))));
  });
  return {
    name: 'pm2',
    async start() {
      await detachedRun(['start', app, '-i', '2', '--name', 'bench']);
      await waitUp(port);
      await sleep(300);
    },
    reload: async () => run(['reload', 'bench']),
    workerPid: async () => JSON.parse(await run(['jlist'])).find((p) => p.name === 'bench' && p.pid > 0).pid,
    async stop() {
      await detachedRun(['kill']);
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

// `conns` clients sending one request after another; failures and response times per phase.
function load(port, keepAlive) {
  const agent = new http.Agent({ keepAlive, maxSockets: conns });
  const stats = { phase: 'warm', phases: {}, lastResponse: Date.now() };
  const record = (ok, error) => {
    const now = Date.now();
    const p = (stats.phases[stats.phase] ??= { ok: 0, failed: 0, errors: {}, longestGapMs: 0 });
    p.longestGapMs = Math.max(p.longestGapMs, now - stats.lastResponse);
    stats.lastResponse = now;
    if (ok) p.ok++;
    else { p.failed++; p.errors[error] = (p.errors[error] ?? 0) + 1; }
  };
  let running = true;
  const one = () => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, agent }, (res) => {
      res.resume();
      res.on('end', () => { record(res.statusCode >= 200 && res.statusCode < 300, `status ${res.statusCode}`); resolve(); });
      res.on('error', (e) => { record(false, e.code); resolve(); });
    });
    req.on('error', (e) => { record(false, e.code ?? e.message); resolve(); });
    // A request nobody answers counts as failed (and would otherwise hold the run forever).
    req.setTimeout(5000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  });
  const loops = Array.from({ length: conns }, async () => { while (running) await one(); });
  return { stats, stop: async () => { running = false; await Promise.all(loops); agent.destroy(); } };
}

async function once(make, keepAlive) {
  const port = await freePort();
  const sup = make(port);
  await sup.start();
  const traffic = load(port, keepAlive);
  const third = seconds * 1000 / 3;
  try {
    await sleep(third / 2);
    traffic.stats.phase = 'reload';
    await sup.reload();
    await sleep(third / 4);
    await sup.reload();
    await sleep(third / 2);
    const pid = await sup.workerPid();
    traffic.stats.phase = 'kill';
    process.kill(pid, 'SIGKILL');
    await sleep(third);
  } finally {
    await traffic.stop();
    await sup.stop();
  }
  return traffic.stats.phases;
}

async function main() {
  if (!fs.existsSync(pm2Bin)) throw new Error('pm2 is a devDependency: npm install first');
  console.log(`supervisor: ${runs} runs, ${seconds} s, ${conns} clients, ${delayMs} ms per answer, Node ${process.version}`);
  for (const keepAlive of [false, true]) {
    const results = { corral: [], pm2: [] };
    for (let i = 0; i < runs; i++) {
      for (const make of i % 2 ? [pm2, corral] : [corral, pm2]) {
        const phases = await once(make, keepAlive);
        const name = make === corral ? 'corral' : 'pm2';
        results[name].push(phases);
        const line = ['reload', 'kill'].map((p) => {
          const r = phases[p] ?? { ok: 0, failed: 0, errors: {}, longestGapMs: 0 };
          return `${p}: ${r.ok} ok, ${r.failed} failed ${JSON.stringify(r.errors)}, gap ${r.longestGapMs} ms`;
        }).join(' | ');
        console.log(`  keep-alive ${keepAlive ? 'on ' : 'off'} ${name.padEnd(6)} run ${i + 1}: ${line}`);
      }
    }
    for (const name of ['corral', 'pm2']) {
      const m = (phase, key) => median(results[name].map((r) => r[phase]?.[key] ?? 0));
      console.log(`keep-alive ${keepAlive ? 'on ' : 'off'} ${name.padEnd(6)} median: reloads ${m('reload', 'failed')} failed, ` +
        `longest gap ${m('reload', 'longestGapMs')} ms; kill -9 ${m('kill', 'failed')} failed, longest gap ${m('kill', 'longestGapMs')} ms`);
    }
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
