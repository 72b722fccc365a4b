'use strict';
// The `corral` command and corral/supervisor: start, status (table, JSON, Prometheus), restart
// with backoff and crash-loop stop, rolling reload and graceful stop without failed requests,
// and the errors of bad input.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { fixture, root, run } = require('./helpers');
const { RestartPolicy } = require('../lib/supervisor/restart-policy');

const cli = path.join(root, 'bin', 'corral.js');
const app = fixture('supervised-app.js');
const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-sup-test-'));
fs.chmodSync(socketDir, 0o700);
const env = { CORRAL_SOCKET_DIR: socketDir };

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Every primary a test starts; whatever a failed test leaves running is killed at the end (its
// workers end with it: their channel to it closes).
const started = [];

// `corral start ...` in the background; resolves once it says its workers listen.
function startApp(args, extraEnv = {}) {
  const child = spawn(process.execPath, [cli, 'start', ...args], { env: { ...process.env, ...env, ...extraEnv } });
  started.push(child);
  child.out = '';
  child.err = '';
  child.stdout.on('data', (d) => { child.out += d; });
  child.stderr.on('data', (d) => { child.err += d; });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.ready = new Promise((resolve, reject) => {
    const check = () => { if (/worker\(s\) listening/.test(child.err)) { child.stderr.off('data', check); resolve(); } };
    child.stderr.on('data', check);
    child.on('exit', () => reject(new Error(`corral start exited: ${child.err}`)));
  });
  return child;
}

const corral = (args) => run([cli, ...args], { env });

function get(port, agent) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, agent: agent ?? false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ ok: res.statusCode === 200, body }));
      res.on('error', (e) => resolve({ ok: false, error: e.code }));
    });
    req.on('error', (e) => resolve({ ok: false, error: e.code }));
  });
}

// Requests from `concurrency` clients, one after another each, until stop() is called.
function load(port, { concurrency = 8, keepAlive }) {
  const agent = new http.Agent({ keepAlive, maxSockets: concurrency });
  const results = { ok: 0, failed: [] };
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const r = await get(port, agent);
      if (r.ok) results.ok++;
      else results.failed.push(r.error ?? 'status');
    }
  });
  return { results, stop: async () => { running = false; await Promise.all(loops); agent.destroy(); return results; } };
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(socketDir, { recursive: true, force: true });
});

describe('restart policy', () => {
  it('backs off exponentially, resets after a stable run, and calls a crash loop', () => {
    const p = new RestartPolicy({ minDelayMs: 100, maxDelayMs: 1000, stableMs: 5000, maxCrashes: 5 });
    assert.deepStrictEqual([10, 10, 10, 10].map((u) => p.onExit(u).delayMs), [100, 200, 400, 800]);
    assert.strictEqual(p.onExit(10).delayMs, 1000);  // capped
    assert.deepStrictEqual(p.onExit(10), { crashLoop: true });
    assert.strictEqual(p.onExit(60000).delayMs, 100);  // a long run resets it
  });
});

describe('corral command', () => {
  let port;
  before(async () => { port = await freePort(); });

  it('starts an unmodified server on N workers, prefixes their output, reports status as table, JSON and Prometheus', async () => {
    const child = startApp([app, '-i', '2', '--name', 'stat', '--metrics', '127.0.0.1:0'], { PORT: port });
    try {
      await child.ready;
      const pids = new Set();
      for (let i = 0; i < 6; i++) pids.add((await get(port)).body);
      assert.strictEqual(pids.size, 2, 'both workers answer');
      assert.match(child.out, /^\[1\] listening \d+$/m);
      assert.match(child.out, /^\[2\] listening \d+$/m);
      const json = JSON.parse((await corral(['status', 'stat', '--json'])).stdout);
      assert.strictEqual(json.name, 'stat');
      assert.strictEqual(json.workers.length, 2);
      for (const w of json.workers) {
        assert.strictEqual(w.state, 'online');
        assert.ok(pids.has(String(w.pid)));
        assert.strictEqual(w.restarts, 0);
        assert.strictEqual(w.connectionsOpen, 0);
      }
      assert.strictEqual(json.workers.reduce((n, w) => n + w.connectionsServed, 0), 6);
      const table = (await corral(['status'])).stdout;
      assert.match(table, /^stat \(primary pid \d+, running/m);
      assert.match(table, /^slot\s+id\s+pid\s+state\s+uptime\s+restarts\s+cpu\s+rss\s+conns open\s+conns served$/m);
      const metrics = await new Promise((resolve) => http.get(`http://127.0.0.1:${json.metricsPort}/metrics`, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; }).on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
      }));
      assert.strictEqual(metrics.status, 200);
      assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
      assert.match(metrics.body, /^corral_worker_up\{app="stat",slot="0"\} 1$/m);
      assert.match(metrics.body, /^# TYPE corral_worker_resident_memory_bytes gauge$/m);
    } finally {
      child.kill('SIGTERM');
    }
    assert.deepStrictEqual(await child.exited, { code: 0, signal: null });
  });

  it('replaces a killed worker, and stops restarting a crash loop (exit 1 when every slot loops)', async () => {
    const child = startApp([app, '-i', '2', '--name', 'crashy'], { PORT: port });
    await child.ready;
    const before = JSON.parse((await corral(['status', 'crashy', '--json'])).stdout);
    process.kill(before.workers[0].pid, 'SIGKILL');
    let after;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = JSON.parse((await corral(['status', 'crashy', '--json'])).stdout);
      if (after.workers[0].state === 'online' && after.workers[0].pid !== before.workers[0].pid) break;
    }
    assert.strictEqual(after.workers[0].restarts, 1);
    assert.notStrictEqual(after.workers[0].pid, before.workers[0].pid);
    assert.strictEqual(after.workers[1].pid, before.workers[1].pid, 'the other worker is untouched');
    child.kill('SIGTERM');
    assert.strictEqual((await child.exited).code, 0);

    const looping = startApp([app, '-i', '1', '--name', 'loop'], { PORT: port, CRASH: '1' });
    const { code } = await looping.exited;
    assert.strictEqual(code, 1);
    assert.match(looping.err, /slot 0: crash loop \(6 quick exits in a row\), not restarting it/);
    assert.match(looping.err, /restarted after 100 ms[\s\S]*restarted after 200 ms[\s\S]*restarted after 400 ms/);
    assert.ok(!fs.existsSync(path.join(socketDir, 'loop.sock')), 'the control socket goes with the primary');
  });

  for (const keepAlive of [false, true]) {
    it(`reloads twice under load with no failed request (keep-alive ${keepAlive ? 'on' : 'off'}), then stops gracefully`, async () => {
      const child = startApp([app, '-i', '2', '--name', `reload${keepAlive}`], { PORT: port, DELAY_MS: '5' });
      await child.ready;
      const first = JSON.parse((await corral(['status', `reload${keepAlive}`, '--json'])).stdout).workers.map((w) => w.pid);
      const traffic = load(port, { keepAlive });
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 2; i++) {
        const res = await corral(['reload', `reload${keepAlive}`]);
        assert.strictEqual(res.stdout, `reload${keepAlive}: reloaded 2 worker(s)\n`, res.stderr);
      }
      await new Promise((r) => setTimeout(r, 300));
      const results = await traffic.stop();
      assert.deepStrictEqual(results.failed, []);
      assert.ok(results.ok > 50, `${results.ok} requests served`);
      for (const pid of first) assert.ok(!alive(pid), `old worker ${pid} has ended`);
      const now = JSON.parse((await corral(['status', `reload${keepAlive}`, '--json'])).stdout);
      assert.deepStrictEqual(now.workers.map((w) => w.restarts), [2, 2]);

      // Graceful stop: a request in flight is answered, then everything ends.
      const slow = startSlowRequest(port);
      await new Promise((r) => setTimeout(r, 20));
      const stopped = await corral(['stop', `reload${keepAlive}`]);
      assert.strictEqual(stopped.stdout, `reload${keepAlive}: stopped\n`, stopped.stderr);
      assert.strictEqual((await slow).ok, true);
      assert.strictEqual((await child.exited).code, 0);
      for (const w of now.workers) assert.ok(!alive(w.pid), `worker ${w.pid} has ended with its primary`);
    });
  }

  it('a reload whose new workers crash at start leaves the old ones serving and tracked, restarting nothing', async () => {
    const crashFile = path.join(socketDir, 'crash-now');
    const child = startApp([app, '-i', '2', '--name', 'badreload'], { PORT: port, CRASH_FILE: crashFile });
    await child.ready;
    const before = JSON.parse((await corral(['status', 'badreload', '--json'])).stdout).workers;
    fs.writeFileSync(crashFile, '');
    const failed = await corral(['reload', 'badreload']);
    assert.strictEqual(failed.code, 1);
    assert.match(failed.stderr, /exited \(3\) before it listened/);
    assert.match(child.err, /corral: reload failed: worker \d+ exited \(3\) before it listened/);
    await new Promise((r) => setTimeout(r, 1000));
    const during = JSON.parse((await corral(['status', 'badreload', '--json'])).stdout).workers;
    assert.deepStrictEqual(during.map((w) => [w.pid, w.state, w.restarts]), before.map((w) => [w.pid, 'online', 0]));
    fs.unlinkSync(crashFile);
    const fixed = await corral(['reload', 'badreload']);
    assert.strictEqual(fixed.stdout, 'badreload: reloaded 2 worker(s)\n', fixed.stderr);
    for (const w of before) assert.ok(!alive(w.pid), `old worker ${w.pid} has ended`);
    assert.doesNotMatch(child.err, /restarted after/);
    child.kill('SIGTERM');
    assert.strictEqual((await child.exited).code, 0);
  });

  it('a worker that a timer keeps alive after it disconnected gets SIGTERM (its handler runs), not the drain timeout', async () => {
    const child = startApp([app, '-i', '1', '--name', 'linger'], { PORT: port, LINGER: '1' });
    await child.ready;
    const started = Date.now();
    const stopped = await corral(['stop', 'linger']);
    assert.strictEqual(stopped.stdout, 'linger: stopped\n', stopped.stderr);
    assert.strictEqual((await child.exited).code, 0);
    assert.ok(Date.now() - started < 6000, `stopped in ${Date.now() - started} ms`);
    assert.match(child.out, /SIGTERM handled by \d+/);
    assert.match(child.err, /still running 2000 ms after it disconnected \(servers closed\): sent SIGTERM/);
  });

  it('refuses a directory node could not run as a script, with one line and exit 2', async () => {
    const r = await corral(['start', socketDir]);
    assert.strictEqual(r.code, 2);
    assert.match(r.stderr, /^corral: no such script: /);
  });

  it('gives bad input one clear line and a non-zero exit, and starts nothing', async () => {
    const cases = [
      [['start', app, '--bogus'], 2, /^corral: unknown option --bogus$/m],
      [['start', '/nonexistent/app.js'], 2, /^corral: no such script: \/nonexistent\/app\.js$/m],
      [['start', app, '-i', '0'], 2, /^corral: -i wants a number of workers of 1 or more, or max \(got 0\)$/m],
      [['start'], 2, /^corral: start needs the script to run$/m],
      [['frobnicate'], 2, /^corral: unknown command frobnicate$/m],
      [['status', 'nothere'], 1, /^corral: no app named "nothere" is running$/m],
      [['reload', 'nothere'], 1, /^corral: no app named "nothere" is running$/m],
      [['stop'], 2, /^corral: stop takes the NAME of a running app$/m],
    ];
    for (const [args, code, message] of cases) {
      const res = await corral(args);
      assert.strictEqual(res.code, code, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message);
    }
    const running = startApp([app, '-i', '1', '--name', 'twice'], { PORT: port });
    await running.ready;
    const again = await run([cli, 'start', app, '-i', '1', '--name', 'twice'], { env: { ...env, PORT: String(port) } });
    assert.strictEqual(again.code, 1);
    assert.match(again.stderr, /^corral: an app named "twice" is already running$/m);
    running.kill('SIGTERM');
    await running.exited;
    // A socket left behind by a primary that is gone is taken over.
    const stale = net.createServer().listen(path.join(socketDir, 'stale.sock'));
    await new Promise((r) => stale.once('listening', r));
    stale.close();
    fs.writeFileSync(path.join(socketDir, 'stale.sock'), '');  // (close removed it: leave a file)
    const taken = startApp([app, '-i', '1', '--name', 'stale'], { PORT: port });
    await taken.ready;
    taken.kill('SIGTERM');
    assert.strictEqual((await taken.exited).code, 0);
  });
});

describe('corral/supervisor in code', () => {
  it('runs the same supervision: events, restart options, --max-memory replacement, status, stop', async () => {
    const { Supervisor } = require('../supervisor');
    const port = await freePort();
    const sup = new Supervisor({
      script: app, instances: 1, name: 'inproc', control: false, silent: true, maxMemoryMB: 1,
      env: { PORT: String(port) }, restart: { minDelayMs: 10 },
    });
    const events = [];
    sup.on('worker-listening', (slot, worker) => events.push(['listening', slot.index, worker.id]));
    sup.on('max-memory', (slot, rss) => events.push(['max-memory', slot.index, rss > 1048576]));
    await sup.start();
    // Every worker is over 1 MiB: the sampler (once a second) replaces it gracefully.
    while (!events.some((e) => e[0] === 'listening' && e[2] === 2)) await new Promise((r) => setTimeout(r, 50));
    assert.deepStrictEqual(events.slice(0, 3), [['listening', 0, 1], ['max-memory', 0, true], ['listening', 0, 2]]);
    assert.strictEqual((await get(port)).ok, true);
    const status = await sup.status();
    assert.strictEqual(status.workers[0].restarts >= 1, true);
    await sup.stop();
    assert.strictEqual(sup.state, 'stopped');
    assert.deepStrictEqual(Object.keys(require('../cluster').workers), []);
    assert.throws(() => new Supervisor({ script: app, instances: 0 }), { code: 'ERR_INVALID_ARG_VALUE' });
  });
});

function startSlowRequest(port) {
  // The app answers after DELAY_MS=5; a held request is simply one in flight during stop.
  return get(port);
}
