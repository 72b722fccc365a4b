'use strict';
// corral/pool: hash 200 strings on worker threads, then print the pool's statistics.
//   node examples/pool
const path = require('path');
const { Pool } = require('../../pool');

async function main() {
  const pool = new Pool({ filename: path.join(__dirname, 'task.js') });
  const started = Date.now();
  const digests = await Promise.all(
    Array.from({ length: 200 }, (_, i) => pool.run({ text: `item ${i}`, rounds: 2000 })));
  console.log(`${digests.length} digests in ${Date.now() - started} ms on ${pool.threads.length} threads`);
  console.log(`first: ${digests[0]}`);
  const { runTime, waitTime } = pool;
  console.log(`run time p50 ${runTime.p50.toFixed(2)} ms, p99 ${runTime.p99.toFixed(2)} ms; ` +
    `wait time p50 ${waitTime.p50.toFixed(2)} ms; utilization ${(pool.utilization * 100).toFixed(0)} %`);
  await pool.close();
}

main();
