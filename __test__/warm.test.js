'use strict';
// Warm threads (CORRAL_WARM_THREADS): a Worker that takes one is indistinguishable from a fresh
// one, threadIds still count Worker creations, and a process exits cleanly around them.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { Worker } = require('../worker_threads');
const { fixture, register, runNode, runCorral, once } = require('./helpers');

// What differs between `node app.js` and `node -r corral/register app.js` by construction:
// the -r flag in execArgv and corral's own files in require.cache.
function normalise(stdout) {
  return stdout.trim().split('\n').map((line) => {
    const seen = JSON.parse(line);
    seen.execArgv = seen.execArgv.filter((a) => a !== '-r' && a !== register);
    seen.userModules = seen.userModules.filter((f) => f !== 'register.js' && !/^corral-node\d+\.node$/.test(f));
    return seen;
  });
}

describe('warm threads', () => {
  it('leave after CORRAL_WARM_IDLE_MS unclaimed (threads and memory back), and come back with the next Workers', async () => {
    const idle = await runCorral(fixture('warm-idle.js'), ['1200'], { env: { CORRAL_WARM_IDLE_MS: '300' } });
    assert.strictEqual(idle.code, 0, idle.stderr);
    const seen = JSON.parse(idle.stdout);
    assert.deepStrictEqual(seen.results, [[4, 0], [4, 0], [4, 0], [4, 0]]);
    assert.strictEqual(seen.idle.threads, seen.warm.threads - 2, idle.stdout);
    assert.ok(seen.warm.rss - seen.idle.rss > 4, `RSS ${seen.warm.rss} -> ${seen.idle.rss} MiB`);
    assert.strictEqual(seen.again, seen.warm.threads);
    // The default limit (30 s) keeps them over the same wait.
    const kept = await runCorral(fixture('warm-idle.js'), ['1200']);
    assert.strictEqual(kept.code, 0, kept.stderr);
    const held = JSON.parse(kept.stdout);
    assert.strictEqual(held.idle.threads, held.warm.threads);
  });

  it('give workers the same view as fresh threads and as node', async () => {
    const warm = await runCorral(fixture('warm-identity.js'));
    const cold = await runCorral(fixture('warm-identity.js'), [], { env: { CORRAL_WARM_THREADS: '0' } });
    const node = await runNode(fixture('warm-identity.js'));
    for (const r of [warm, cold, node]) assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(warm.stdout, cold.stdout);
    const seen = normalise(warm.stdout);
    assert.deepStrictEqual(seen, normalise(node.stdout));
    assert.deepStrictEqual(seen.map((s) => s.threadId), [1, 2, 3, 4, 5]);
  });

  it('wait only once a program has made a second Worker', async () => {
    const r = await runCorral(fixture('warm-count.js'));
    assert.strictEqual(r.code, 0, r.stderr);
    // One worker: its own thread only. Two: theirs and the two warm threads the second started.
    assert.deepStrictEqual(JSON.parse(r.stdout), { afterOne: 1, afterTwo: 4 });
  });

  it('let the process exit normally or by process.exit around a booting warm thread', async () => {
    for (let i = 0; i < 10; i++) {
      const normal = await runCorral(fixture('warm-exit.js'), [], { env: { CORRAL_WARM_THREADS: '2' } });
      assert.strictEqual(normal.code, 0, normal.stderr);
      const exited = await runCorral(fixture('warm-exit.js'), ['exit'], { env: { CORRAL_WARM_THREADS: '2' } });
      assert.strictEqual(exited.code, 3, exited.stderr);
      assert.strictEqual(normal.stderr + exited.stderr, '');
    }
  });

  it('end a Worker terminated while the warm thread it took is still booting', async () => {
    for (let i = 0; i < 5; i++) {
      // The first two take the warm threads that are up (none on the first pass: the second
      // starts them) and each has its replacement start booting; the third takes one of those,
      // begun a moment ago. (A warm thread that is up can begin the script before a terminate()
      // arrives: that worker ends with 1, as a Node Worker stopped once its script ran.)
      const first = new Worker('1', { eval: true });
      const second = new Worker('1', { eval: true });
      const third = new Worker('1', { eval: true });
      const [a, b, c] = await Promise.all([once(first, 'exit'), once(second, 'exit'), third.terminate()]);
      assert.deepStrictEqual([a, b], [0, 0]);
      assert.strictEqual(c, 0); // stopped before it began, as a Node Worker without its environment yet
    }
  });
});
