'use strict';
// resourceLimits: a worker over its heap cap dies alone with ERR_WORKER_OUT_OF_MEMORY; the
// stack size is the worker's own; reported limits match Node's.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { Worker } = require('../worker_threads');
const { fixture, runBoth, once, run, register } = require('./helpers');

describe('resourceLimits', () => {
  it('a worker over maxOldGenerationSizeMb dies alone with ERR_WORKER_OUT_OF_MEMORY', async () => {
    const w = new Worker('const a = []; for (;;) a.push(new Array(1e5).fill(1));',
      { eval: true, resourceLimits: { maxOldGenerationSizeMb: 24 } });
    // 'error' and 'exit' come back to back, as in Node: listen for both first.
    const [err, code] = await Promise.all([once(w, 'error'), new Promise((r) => w.once('exit', r))]);
    assert.strictEqual(err.code, 'ERR_WORKER_OUT_OF_MEMORY');
    assert.strictEqual(code, 1);
    // The process, and other workers, carry on.
    const next = new Worker('require("worker_threads").parentPort.postMessage("alive")', { eval: true });
    assert.strictEqual(await once(next, 'message'), 'alive');
  });

  it('reports out of memory every time, whichever thread V8 hits the limit on', async () => {
    // tinypool's limits: V8 can reach them in a GC that one of its platform threads runs (seen
    // on Node 26), and its near-heap-limit callback then runs there; the worker ended with 1 and
    // no 'error' about one time in three. (In a process of its own: under the test runner's
    // the GC stayed on the worker's thread.) Limits this tight end a worker while it starts,
    // at a point that differs between Node's start-up and corral's: as Node's Worker, the exit
    // code is 0 when the environment was not made yet, else 1 (Node 26: 0, corral: 1).
    const { node, corral } = await runBoth(fixture('oom-repeat.js'), [], { timeout: 60000 });
    const outcome = /^ERR_WORKER_OUT_OF_MEMORY [01]$/;
    for (const { stdout } of [node, corral]) {
      const lines = stdout.trim().split('\n');
      assert.strictEqual(lines.length, 15, stdout);
      for (const line of lines) assert.match(line, outcome, stdout);
    }
  });

  it('gives JS the stack size asked for (deep recursion in 4 MiB, RangeError in 1)', async () => {
    const code = `
      function depth(n) { try { return depth(n + 1); } catch { return n; } }
      require('worker_threads').parentPort.postMessage(depth(0));`;
    const big = await once(new Worker(code, { eval: true }), 'message');
    const small = await once(new Worker(code, { eval: true, resourceLimits: { stackSizeMb: 1 } }), 'message');
    assert.ok(big > small * 2, `4 MiB depth ${big} vs 1 MiB depth ${small}`);
  });

  it('reports the same limits and out-of-memory events as node:worker_threads', async () => {
    const { node, corral } = await runBoth(fixture('resource-limits.js'), [], { timeout: 60000 });
    // Before 'online', Node reports what was asked for, unless its thread has already made the
    // isolate: then the limits it runs with (a race in Node itself, seen on Node 26 under load).
    // Such a line is put back to what was asked for, which corral always reports there.
    const asked = {
      'before online': '{"maxYoungGenerationSizeMb":-1,"maxOldGenerationSizeMb":32,"codeRangeSizeMb":-1,"stackSizeMb":4}',
      'default before online': '{"maxYoungGenerationSizeMb":-1,"maxOldGenerationSizeMb":-1,"codeRangeSizeMb":-1,"stackSizeMb":4}',
    };
    const after = { 'before online': 'limits', 'default before online': 'default limits' };
    const settled = node.stdout.replace(/^(default before online|before online) (.*)$/gm, (line, label, json) => {
      const online = node.stdout.match(new RegExp(`^${after[label]} (.*)$`, 'm'));
      return online && online[1] === json ? `${label} ${asked[label]}` : line;
    });
    assert.strictEqual(corral.stdout, settled);
    assert.match(node.stdout, /ERR_WORKER_OUT_OF_MEMORY/);
  });

  it('hands young generation, old generation and code range sizes to V8 as node does', async () => {
    const { node, corral } = await runBoth(fixture('heap-sizes.js'), [], { timeout: 60000 });
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /"maxYoungGenerationSizeMb":3,/);
  });

  it('works under --no-node-snapshot, even out of memory while the environment is made (crashed)', async () => {
    const node = await run(['--no-node-snapshot', fixture('no-snapshot.js')], { timeout: 60000 });
    const corral = await run(['--no-node-snapshot', '-r', register, fixture('no-snapshot.js')], { timeout: 60000 });
    assert.strictEqual(corral.signal, null, corral.stderr);
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /error ERR_WORKER_OUT_OF_MEMORY/);
  });
});
