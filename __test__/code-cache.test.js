'use strict';
// corral's boot modules compile with a code cache shared by the process's worker environments
// (lib/worker_threads/code-cache.js): made by the first worker (or taken from the build's file),
// used by the next, replaced when V8 rejects it, and never visible to the program.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { fixture, runCorral } = require('./helpers');

describe('code cache of corral\'s boot modules', () => {
  it('is kept for the process after the first worker, used by later ones and replaced when rejected', async () => {
    const r = await runCorral(fixture('code-cache.js'));
    assert.strictEqual(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout);
    assert.deepStrictEqual(seen.cachedBefore, [false, false, false]);
    assert.deepStrictEqual(seen.cachedAfter, [true, true, true]);
    assert.strictEqual(seen.replaced, true);
    // The program's Module.prototype._compile is Node's in every worker.
    assert.deepStrictEqual(seen.compileIsNodes, [true, true, true]);
    // Compiled from source or from the cache, corral's frames keep their file, line and column,
    // the ones Node's own loader gives them on the main thread.
    assert.match(seen.mainStack, /worker_threads[\\/]worker\.js:\d+:\d+/);
    for (const stack of seen.stacks) assert.strictEqual(stack, seen.mainStack);
  });

  it('comes from the build for a process\'s first worker, unless the module changed since', async () => {
    const built = await runCorral(fixture('code-cache-build.js'));
    assert.strictEqual(built.code, 0, built.stderr);
    const seen = JSON.parse(built.stdout);
    assert.strictEqual(seen.magic, 'CORRALCC');
    for (const file of ['worker_threads/boot.js', 'worker_threads/port.js', 'worker_threads/worker.js', 'register.js']) {
      assert.ok(seen.files.includes(file), `${file} in ${seen.files}`);
    }
    assert.strictEqual(seen.portFromBuild, true);
    const edited = await runCorral(fixture('code-cache-build.js'), ['edited']);
    assert.strictEqual(edited.code, 0, edited.stderr);
    assert.strictEqual(JSON.parse(edited.stdout).portFromBuild, false);
  });
});
