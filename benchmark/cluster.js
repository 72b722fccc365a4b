'use strict';
// corral vs node: cluster HTTP schedules (wrk on 127.0.0.1) and child_process.fork IPC.
//   node benchmark/cluster.js            (env: DURATION=s per run, RUNS=n, CONNS=n)
// Prints medians per configuration and corral/node ratios.
const { spawn, execFileSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const DURATION = Number(process.env.DURATION || 4);
const RUNS = Number(process.env.RUNS || 3);
const CONNS = Number(process.env.CONNS || 50);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function startServer({ impl, policy, busy }) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NODE_CLUSTER_SCHED_POLICY: policy, BUSY: busy ? '1' : '0' };
    env.CLUSTER = impl === 'corral' ? path.join(root, 'cluster.js') : 'cluster';
    // stderr ignored: node's own workers print EPIPE traces when their primary is killed.
    const child = spawn(process.execPath, [path.join(__dirname, 'cluster-server.js')], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (d) => {
      const m = /ready (\d+)/.exec(String(d));
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

function wrk(port, keepAlive) {
  const args = ['-t1', `-c${CONNS}`, `-d${DURATION}s`, '--latency'];
  if (!keepAlive) args.push('-H', 'Connection: close');
  const out = execFileSync('wrk', [...args, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const ms = p99 ? Number(p99[1]) * { us: 0.001, ms: 1, s: 1000 }[p99[2]] : NaN;
  const errors = /Socket errors: (.*)/.exec(out);
  return { rps, p99: ms, errors: errors ? errors[1] : '' };
}

async function http() {
  const configs = [
    { impl: 'node', policy: 'rr' }, { impl: 'node', policy: 'none' },
    { impl: 'corral', policy: 'rr' }, { impl: 'corral', policy: 'none' }, { impl: 'corral', policy: 'reuseport' },
  ];
  const rows = [];
  for (const keepAlive of [false, true]) {
    for (const busy of keepAlive ? [false] : [false, true]) {
      for (const c of configs) {
        if (busy && c.policy === 'none') continue;
        const { child, port } = await startServer({ ...c, busy });
        const runs = [];
        try {
          wrk(port, keepAlive); // warm-up (JIT, worker caches)
          for (let i = 0; i < RUNS; i++) runs.push(wrk(port, keepAlive));
        } finally {
          // (Also when wrk fails: the server and its workers never outlive the benchmark.)
          if (child.exitCode === null && child.signalCode === null) {
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGKILL');
            await exited;
          }
        }
        const row = { ...c, keepAlive, busy, rps: median(runs.map((r) => r.rps)), p99: median(runs.map((r) => r.p99)), errors: runs.map((r) => r.errors).filter(Boolean).join('; ') };
        rows.push(row);
        console.log(`${c.impl.padEnd(6)} ${c.policy.padEnd(9)} keepalive=${keepAlive ? 'on ' : 'off'} busy=${busy ? 'yes' : 'no '}  ${row.rps.toFixed(0).padStart(7)} req/s  p99 ${row.p99.toFixed(1)} ms ${row.errors}`);
      }
    }
  }
  console.log('\nratios (corral / node round-robin, same keep-alive and primary load):');
  for (const r of rows.filter((x) => x.impl === 'corral')) {
    const base = rows.find((x) => x.impl === 'node' && x.policy === 'rr' && x.keepAlive === r.keepAlive && x.busy === r.busy);
    console.log(`  corral ${r.policy.padEnd(9)} keepalive=${r.keepAlive ? 'on ' : 'off'} busy=${r.busy ? 'yes' : 'no '}: ${(r.rps / base.rps).toFixed(2)}x`);
  }
}

async function ipc() {
  const ROUNDS = 2000;
  const ECHOES = 50000;
  const WINDOW = 1000;
  const results = {};
  for (const serialization of ['json', 'advanced']) {
    for (const impl of ['node', 'corral']) {
      const { fork } = require(impl === 'corral' ? path.join(root, 'child_process.js') : 'child_process');
      const trips = [];
      const rates = [];
      for (let run = 0; run < RUNS; run++) {
        const child = fork(path.join(__dirname, 'ipc-child.js'), [], { serialization });
        await new Promise((r) => child.once('spawn', r));
        const msg = { type: 'ping', n: 0, payload: 'x'.repeat(32) };
        // Round trip: one message in flight.
        const lat = [];
        await new Promise((resolve) => {
          let i = 0;
          let t0;
          const next = () => {
            t0 = process.hrtime.bigint();
            child.send(msg);
          };
          child.on('message', function onMsg() {
            lat.push(Number(process.hrtime.bigint() - t0) / 1000);
            if (++i === ROUNDS) {
              child.off('message', onMsg);
              resolve();
            } else next();
          });
          next();
        });
        trips.push(median(lat.slice(200)));
        // Echo rate: up to WINDOW messages in flight.
        const t0 = process.hrtime.bigint();
        await new Promise((resolve) => {
          let sent = 0;
          let got = 0;
          const pump = () => {
            while (sent < ECHOES && sent - got < WINDOW) child.send(msg), sent++;
          };
          child.on('message', () => {
            got++;
            if (got === ECHOES) resolve();
            else if (sent - got < WINDOW / 2) pump();
          });
          pump();
        });
        rates.push(ECHOES / (Number(process.hrtime.bigint() - t0) / 1e9));
        child.kill();
        await new Promise((r) => child.once('exit', r));
      }
      results[`${impl}/${serialization}`] = { rtt: median(trips), rate: median(rates) };
      console.log(`${impl.padEnd(6)} ${serialization.padEnd(8)} round trip p50 ${median(trips).toFixed(1)} µs   echo ${(median(rates) / 1000).toFixed(0)}k msg/s`);
    }
    const n = results[`node/${serialization}`];
    const c = results[`corral/${serialization}`];
    console.log(`  ratio corral/node ${serialization}: round trip ${(c.rtt / n.rtt).toFixed(2)}x (lower is better), echo ${(c.rate / n.rate).toFixed(2)}x`);
  }
}

(async () => {
  console.log(`node ${process.version}, ${require('os').cpus().length} cpus, wrk -t1 -c${CONNS} -d${DURATION}s, median of ${RUNS}\n`);
  if (process.argv[2] !== 'http') {
    console.log('== IPC (child_process.fork)');
    await ipc();
  }
  if (process.argv[2] !== 'ipc') {
    try {
      execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    } catch (error) {
      // (wrk --version exits 1 after printing its version: only a missing wrk is refused.)
      if (error.code === 'ENOENT') {
        console.error('\nThe HTTP cases need wrk on PATH (apt-get install wrk); `node benchmark/cluster.js ipc` runs without it.');
        process.exitCode = 1;
        return;
      }
    }
    console.log('\n== HTTP hello world, 2 workers');
    await http();
  }
})();
