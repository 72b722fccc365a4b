'use strict';
// A child that sends faster than its parent reads: the child sends --mib MiB (default 1024) of
// 64 KiB messages as fast as it can while the parent is busy for the first 3 s; the parent's peak
// RSS above its start shows whether its memory stays bounded. corral's fork and node's, same run.
//   node benchmark/ipc-flood.js [--mib 1024]
const path = require('path');
const { arg } = require('./common');

const mib = Number(arg('mib', 1024));

if (process.argv[2] === 'child') {
  const chunk = 'x'.repeat(64 * 1024);
  let left = mib * 16;
  // As fast as the channel takes them: 64 sends, then wait for the last one's callback.
  const pump = () => {
    for (let i = 0; i < 64 && left > 0; i++, left--) {
      if (i === 63 || left === 1) process.send(chunk, pump);
      else process.send(chunk);
    }
    if (left === 0) process.send('done');
  };
  process.on('message', (m) => { if (m === 'go') pump(); });
  return;
}

function measure(fork) {
  return new Promise((resolve) => {
    const child = fork(__filename, ['child', '--mib', String(mib)]);
    const base = process.memoryUsage().rss;
    let peak = base;
    let received = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
    const t0 = Date.now();
    child.on('message', (m) => {
      peak = Math.max(peak, process.memoryUsage().rss);
      if (m === 'done') {
        clearInterval(sampler);
        child.kill();
        resolve({ seconds: (Date.now() - t0) / 1000, receivedMiB: received / 1048576, peakMiB: (peak - base) / 1048576 });
      } else {
        received += m.length;
      }
    });
    child.send('go');
    const end = Date.now() + 3000;
    while (Date.now() < end) peak = Math.max(peak, process.memoryUsage().rss); // busy parent
  });
}

(async () => {
  const corral = await measure(require(path.join(__dirname, '..', 'child_process.js')).fork);
  const node = await measure(require('child_process').fork);
  const show = (r) => `${r.receivedMiB.toFixed(0)} MiB in ${r.seconds.toFixed(1)} s, parent peak RSS +${r.peakMiB.toFixed(0)} MiB`;
  console.log(`node ${process.version}, ${mib} MiB of 64 KiB messages, parent busy for the first 3 s`);
  console.log(`corral: ${show(corral)}`);
  console.log(`node:   ${show(node)}`);
})();
