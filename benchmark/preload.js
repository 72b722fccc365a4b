'use strict';
// What `-r corral/register` costs a process that never uses a corral feature: start-up time
// and peak memory of `node -e 0` with and without the preload, in paired runs (the two
// commands back to back, alternating which goes first), medians of the per-pair differences.
//   node benchmark/preload.js [--runs 21]
const { spawnSync } = require('child_process');
const path = require('path');
const { median, arg } = require('./common');

const register = path.join(__dirname, '..', 'register.js');
const runs = Number(arg('runs', 21));

// Wall time (ms) and peak RSS (KiB, from the kernel's accounting of the child).
function measure(args) {
  const t0 = process.hrtime.bigint();
  const child = spawnSync(process.execPath, args, { stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (child.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${child.status}`);
  return ms;
}

function peakKiB(args) {
  // /proc's VmHWM of a child that prints its own at exit.
  const probe = "process.on('exit', () => process.stdout.write(require('fs').readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+)/)[1]))";
  const child = spawnSync(process.execPath, [...args, '-e', probe], { encoding: 'utf8' });
  return Number(child.stdout);
}

const plain = ['-e', '0'];
const preloaded = ['-r', register, '-e', '0'];
measure(plain);
measure(preloaded); // warm the page cache
const time = [];
const memory = [];
const base = { time: [], memory: [] };
for (let i = 0; i < runs; i++) {
  const order = i % 2 ? [plain, preloaded] : [preloaded, plain];
  const t = new Map(order.map((args) => [args, measure(args)]));
  time.push(t.get(preloaded) - t.get(plain));
  base.time.push(t.get(plain));
  const m = new Map(order.map((args) => [args, peakKiB(args.slice(0, -2))]));
  memory.push((m.get(preloaded) - m.get(plain)) / 1024);
  base.memory.push(m.get(plain) / 1024);
}
console.log(`node ${process.version}, ${runs} paired runs`);
console.log(`node -e 0: ${median(base.time).toFixed(1)} ms, peak RSS ${median(base.memory).toFixed(1)} MiB`);
console.log(`-r corral/register adds: ${median(time).toFixed(2)} ms (target <= 3), ` +
  `${median(memory).toFixed(2)} MiB peak RSS (target <= 2)`);
