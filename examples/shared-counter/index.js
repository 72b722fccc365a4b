'use strict';
// Cluster workers share one request counter in shared memory; the primary prints it every
// second. No messages are sent per request: each worker does Atomics.add on the same memory.
//
//   node examples/shared-counter [workers=2]          (Node's cluster)
//   node -r corral/register examples/shared-counter   (corral's cluster, once it lands)
//
// Environment: PORT (default 8000; 0 = any free port), RUN_SECONDS (stop after that long).
// Then: curl localhost:8000  (or any load generator) and watch the primary's output.
const cluster = require('node:cluster');
const http = require('node:http');
const shared = require('corral/shared');

const REGION = 'requests';

if (cluster.isPrimary) {
  const workers = Number(process.argv[2] || 2);
  // A named region: every process started from here (cluster workers, forks, their threads)
  // can open it by name. Alternatives: pass shared.handle(buffer) in the fork env, or the fd.
  const counts = new BigInt64Array(shared.create(16, { name: REGION }));
  for (let i = 0; i < workers; i++) cluster.fork();

  let last = 0n;
  const tick = setInterval(() => {
    const total = Atomics.load(counts, 0);
    console.log(`requests: ${total} total, ${total - last}/s`);
    last = total;
  }, 1000);

  const stop = () => {
    clearInterval(tick);
    console.log(`final: ${Atomics.load(counts, 0)} requests`);
    for (const w of Object.values(cluster.workers)) w.kill();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (process.env.RUN_SECONDS) setTimeout(stop, Number(process.env.RUN_SECONDS) * 1000);
} else {
  const counts = new BigInt64Array(shared.open(REGION));
  const server = http.createServer((req, res) => {
    const n = Atomics.add(counts, 0, 1n) + 1n;
    res.end(`request #${n} served by worker ${process.pid}\n`);
  });
  server.listen(Number(process.env.PORT ?? 8000), () => {
    console.log(`worker ${process.pid} listening on port ${server.address().port}`);
  });
}
