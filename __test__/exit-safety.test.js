'use strict';
// Exit safety: a process that ends (normally, or by process.exit) while 8 workers are busy
// stops and joins them first: no crash, no hang. 100 runs, 0 failures.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { fixture, run } = require('./helpers');

describe('exit with busy workers', () => {
  it('100 runs (half process.exit, half natural end with unref) without a crash', async () => {
    const failures = [];
    for (let i = 0; i < 100; i++) {
      const mode = i % 2 ? 'exit' : 'unref';
      const res = await run([fixture('exit-stress.js'), mode], { timeout: 20000 });
      if (res.code !== 0 || res.signal) failures.push(`${mode}: code ${res.code} signal ${res.signal} ${res.stderr.slice(0, 200)}`);
    }
    assert.deepStrictEqual(failures, []);
  });

  it('a worker calling process.exit while its own workers are busy ends cleanly', async () => {
    const res = await run(['-e', `
      const { Worker } = require(${JSON.stringify(require.resolve('../worker_threads'))});
      const w = new Worker(\`
        const { Worker } = require('worker_threads');
        for (let i = 0; i < 3; i++) new Worker('for(;;){}', { eval: true });
        setTimeout(() => process.exit(5), 50);\`, { eval: true });
      w.on('exit', (c) => console.log('exit', c));`], { timeout: 20000 });
    assert.strictEqual(res.stdout, 'exit 5\n');
    assert.strictEqual(res.code, 0);
  });
});
