'use strict';
// The parent's memory over many short-lived forked children (what the IPC fuzz run does:
// 2,400 children), corral's fork against node's, each in a process of its own. Each child
// (python3, speaking the json channel) sends 20 messages and exits; 4 run at a time. Prints
// RSS, V8's committed heap (heapTotal) and what lies outside it, after a GC at the start and
// at the end, and the ratios of the growth.
//   node benchmark/spawn-churn.js [--children 2400]
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { arg } = require('./common');

const children = Number(arg('children', 2400));

function parent(which, count) {
  const { fork } = which === 'corral' ? require('../child_process.js') : require('child_process');
  const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'churn-')), 'child.py');
  fs.writeFileSync(script, "import os\nfd = int(os.environ['NODE_CHANNEL_FD'])\n" +
    "for i in range(20): os.write(fd, b'{\"n\":%d}\\n' % i)\n");
  const sample = () => {
    global.gc();
    const { rss, heapTotal, heapUsed } = process.memoryUsage();
    return { rss, heapTotal, heapUsed, outside: rss - heapTotal };
  };
  const one = () => new Promise((resolve) => {
    const child = fork(script, [], { execPath: python, execArgv: [], silent: true });
    child.on('message', () => {});
    child.on('exit', resolve);
  });
  (async () => {
    await one();  // what is made once per process is not growth
    const first = sample();
    let started = 0;
    const lane = async () => {
      while (started < count) {
        started++;
        await one();
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
    const last = sample();
    fs.rmSync(path.dirname(script), { recursive: true, force: true });
    process.stdout.write(JSON.stringify({ first, last }));
  })();
}

if (process.argv[2] === '--parent') {
  parent(process.argv[3], Number(process.argv[4]));
} else {
  const mib = (bytes) => (bytes / 1048576).toFixed(1);
  const results = {};
  for (const which of ['node', 'corral']) {
    const res = spawnSync(process.execPath, ['--expose-gc', __filename, '--parent', which, String(children)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    results[which] = JSON.parse(res.stdout);
    const { first, last } = results[which];
    console.log(`${which.padEnd(6)} ${children} children: RSS ${mib(first.rss)} -> ${mib(last.rss)} MiB, ` +
      `heapTotal ${mib(first.heapTotal)} -> ${mib(last.heapTotal)}, heapUsed ${mib(first.heapUsed)} -> ` +
      `${mib(last.heapUsed)}, outside the heap ${mib(first.outside)} -> ${mib(last.outside)}`);
  }
  const growth = (which, key) => results[which].last[key] - results[which].first[key];
  console.log(`corral/node growth: RSS ${(growth('corral', 'rss') / growth('node', 'rss')).toFixed(2)}, ` +
    `outside the heap ${mib(growth('corral', 'outside'))} vs ${mib(growth('node', 'outside'))} MiB`);
}
