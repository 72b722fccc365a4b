'use strict';
// corral/pool vs piscina vs tinypool (pool size = cores), and `new Worker` start-up with and
// without corral's warm threads vs node:worker_threads. Each case runs in fresh processes,
// implementations alternating; prints medians and ratios against the counterpart.
//   node benchmark/pool.js [--runs 5] [--case tiny,medium,startup]
const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');
const { median, arg } = require('./common');

const root = path.join(__dirname, '..');
const taskFile = path.join(__dirname, 'pool-tasks.js');
const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

function makePool(impl) {
  const options = { filename: taskFile, minThreads: cores, maxThreads: cores, idleTimeout: 60000 };
  if (impl === 'corral') return new (require(path.join(root, 'pool')).Pool)(options);
  if (impl === 'piscina') return new (require('piscina').Piscina)(options);
  return new (require('tinypool').default)(options);
}

// tasks/s for `n` tasks all submitted at once, after a warm-up round.
async function throughput(impl, n, task, name) {
  const pool = makePool(impl);
  const round = (count) => {
    const runs = [];
    for (let i = 0; i < count; i++) runs.push(pool.run(task(i), name ? { name } : undefined));
    return Promise.all(runs);
  };
  await round(Math.min(n, 1000));
  const t0 = process.hrtime.bigint();
  const results = await round(n);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (results.length !== n) throw new Error('lost tasks');
  await pool.destroy();
  return n / secs;
}

// ms from `new Worker()` to its first message; workers started one after another with a pause
// (so a warm thread is ready again), the first one (always cold) left out.
async function startup(impl) {
  const { Worker } = impl === 'node' ? require('worker_threads') : require(path.join(root, 'worker_threads'));
  const times = [];
  for (let i = 0; i < 11; i++) {
    const t0 = process.hrtime.bigint();
    const w = new Worker('require("worker_threads").parentPort.postMessage(1)', { eval: true });
    // Listened for at once: 'exit' may follow the last 'message' in the same tick.
    const exited = new Promise((resolve) => w.once('exit', resolve));
    await new Promise((resolve) => w.once('message', resolve));
    if (i > 0) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await exited;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return median(times);
}

const cases = {
  tiny: {
    impls: ['corral', 'piscina', 'tinypool'], unit: 'tasks/s', better: 'higher', target: 2.0,
    run: (impl) => throughput(impl, impl === 'corral' ? 200000 : 50000, (i) => ({ a: i, b: 1 })),
  },
  medium: {
    impls: ['corral', 'piscina', 'tinypool'], unit: 'tasks/s', better: 'higher', target: 1.0,
    run: (impl) => throughput(impl, 4000, (i) => i, 'medium'),
  },
  startup: {
    // corral-cold: CORRAL_WARM_THREADS=0.
    impls: ['corral', 'node', 'corral-cold'], unit: 'ms', better: 'lower', target: 0.1,
    run: (impl) => startup(impl === 'node' ? 'node' : 'corral'),
  },
};
// What corral is compared with (the target applies to the first).
const counterparts = { tiny: ['piscina', 'tinypool'], medium: ['piscina', 'tinypool'], startup: ['node', 'corral-cold'] };

async function child() {
  const value = await cases[arg('case')].run(arg('impl'));
  process.stdout.write(JSON.stringify(value));
  process.exit(0);
}

function main() {
  const runs = Number(arg('runs', 5));
  const selected = arg('case', Object.keys(cases).join(',')).split(',');
  console.log(`node ${process.version}, ${cores} cores, ${runs} runs per case, medians`);
  for (const name of selected) {
    const spec = cases[name];
    const results = Object.fromEntries(spec.impls.map((impl) => [impl, []]));
    for (let r = 0; r < runs; r++) {
      const order = r % 2 ? [...spec.impls].reverse() : spec.impls;
      for (const impl of order) {
        const env = { ...process.env, ...(impl === 'corral-cold' ? { CORRAL_WARM_THREADS: '0' } : {}) };
        const out = spawnSync(process.execPath, [__filename, '--child', '--impl', impl, '--case', name],
          { encoding: 'utf8', timeout: 300000, env });
        if (out.status !== 0 || out.stdout === '') {
          throw new Error(`${impl} ${name} failed (status ${out.status}, ${out.signal}): ${out.stderr}`);
        }
        results[impl].push(JSON.parse(out.stdout));
      }
    }
    const fmt = (v) => (v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
    const c = median(results.corral);
    const parts = spec.impls.map((impl) => `${impl} ${fmt(median(results[impl]))}`);
    const ratios = counterparts[name].map((other) => `corral/${other} ${(c / median(results[other])).toFixed(2)}`);
    const first = c / median(results[counterparts[name][0]]);
    const met = spec.better === 'lower' ? first <= spec.target : first >= spec.target;
    console.log(`${name.padEnd(8)} ${spec.unit}: ${parts.join(', ')}; ${ratios.join(', ')} ` +
      `(target ${spec.better === 'lower' ? '<=' : '>='} ${spec.target} vs ${counterparts[name][0]}) ${met ? 'met' : 'NOT met'}`);
  }
}

if (process.argv.includes('--child')) child();
else main();
