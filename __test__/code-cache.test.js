'use strict';
// corral's boot modules compile with a code cache shared by the process's worker environments
// (lib/worker_threads/code-cache.js): made by the first worker (or taken from the build's file),
// used by the next, replaced when V8 rejects it, and never visible to the program.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { fixture, run, runCorral } = require('./helpers');
const { native } = require('../lib/binding');
const { Worker } = require('../worker_threads');

describe('code cache of corral\'s boot modules', () => {
  it('is kept for the process after the first worker, used by later ones and replaced when rejected', async () => {
    const r = await runCorral(fixture('code-cache.js'));
    assert.strictEqual(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout);
    // The main thread's load of corral's modules read the build's caches already.
    assert.deepStrictEqual(seen.cachedBefore, [true, true, true]);
    assert.deepStrictEqual(seen.cachedAfter, [true, true, true]);
    assert.strictEqual(seen.replaced, true);
    // The program's Module.prototype._compile is Node's in every worker.
    assert.deepStrictEqual(seen.compileIsNodes, [true, true, true]);
    // Compiled from source or from the cache, corral's frames keep their file, line and column,
    // the ones Node's own loader gives them on the main thread.
    assert.match(seen.mainStack, /worker_threads[\\/]worker\.js:\d+:\d+/);
    for (const stack of seen.stacks) assert.strictEqual(stack, seen.mainStack);
  });

  it('comes from the build for a process\'s first worker, unless the module changed since or the install moved', async () => {
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
    assert.strictEqual(seen.madeForThisLib, true);
    const moved = await runCorral(fixture('code-cache-build.js'), ['moved']);
    assert.strictEqual(moved.code, 0, moved.stderr);
    assert.strictEqual(JSON.parse(moved.stdout).portFromBuild, false);
  });

  it("serves a program's first require of corral's modules on the main thread, leaving the program's hooks in place", async () => {
    for (const entry of ['cluster', 'worker_threads', 'pool']) {
      const r = await run([fixture('code-cache-main.js'), entry]);
      assert.strictEqual(r.code, 0, r.stderr);
      const seen = JSON.parse(r.stdout);
      assert.ok(seen.uses >= 5, `${entry}: ${seen.uses} files from the build's caches`);
      assert.deepStrictEqual([seen.hookInPlace, seen.compileInPlace, seen.own, seen.works], [true, true, 42, true]);
      // (binding.js and the entry load before corral's compile is in place.)
      assert.ok(seen.corralFilesSeenByHook.length <= 3, `${entry}: ${seen.corralFilesSeenByHook}`);
    }
  });

  it("reads corral's sources once per process, as shared strings with the file's text (ASCII files; re-read when changed)", async () => {
    const file = path.join(__dirname, '..', 'lib', 'worker_threads', 'port.js');
    assert.strictEqual(native.moduleSource(file), fs.readFileSync(file, 'utf8'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-source-'));
    try {
      const probe = path.join(dir, 'probe.js');
      fs.writeFileSync(probe, 'module.exports = 1;\n');
      assert.strictEqual(native.moduleSource(probe), 'module.exports = 1;\n');
      fs.writeFileSync(probe, 'module.exports = 22;\n');
      fs.utimesSync(probe, new Date(), new Date(Date.now() + 5000));
      assert.strictEqual(native.moduleSource(probe), 'module.exports = 22;\n');
      fs.writeFileSync(probe, '// caf\u00e9\n');
      assert.strictEqual(native.moduleSource(probe), undefined);  // Node reads it instead
      assert.strictEqual(native.moduleSource(path.join(dir, 'missing.js')), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // A worker's corral functions keep their source text; the program's loader is Node's.
    const w = new Worker(`const { parentPort, Worker } = require(${JSON.stringify(require.resolve('../worker_threads'))});
      parentPort.postMessage([Worker.toString().slice(0, 12), require('module')._extensions['.js'].toString().includes('moduleSource')]);`,
    { eval: true });
    const [text, ours] = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    assert.deepStrictEqual([text, ours], ['class Worker', false]);
  });
});
