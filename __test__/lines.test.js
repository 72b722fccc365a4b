'use strict';
// On the running Node line, corral's modules export what that line's built-ins export (same
// names, same typeof), Worker has the built-in Worker's methods, and every addition of the newer
// lines behaves as the built-in does on the same script.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { root, fixture, runBoth } = require('./helpers');

const builtins = require('../lib/builtins');
const { unserved } = require('../lib/worker_threads/line');

// corral's own additions, beyond what Node exports.
const corralExtras = { cluster: ['SCHED_REUSEPORT'] };
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

describe(`exports on Node ${process.version}`, () => {
  for (const name of ['worker_threads', 'cluster', 'child_process']) {
    it(`${name}: the built-in's names and types, no others`, () => {
      const builtin = builtins.get(name);
      const ours = require(`../${name}.js`);
      const gaps = name === 'worker_threads' ? unserved : [];
      const expected = Object.keys(builtin).filter((key) => !gaps.includes(key));
      const extras = corralExtras[name] ?? [];
      assert.deepStrictEqual(Object.keys(ours).filter((key) => !extras.includes(key)).sort(), expected.sort());
      for (const key of expected) {
        assert.strictEqual(typeof ours[key], typeof builtin[key], `typeof ${name}.${key}`);
      }
    });
  }

  it('every export corral does not serve is named in the README', () => {
    for (const key of unserved) assert.match(readme, new RegExp(`\`${key}\``));
  });

  it('Worker has the methods and accessors of this line\'s built-in Worker', () => {
    const NodeWorker = builtins.get('worker_threads').Worker;
    const { Worker } = require('../worker_threads.js');
    const publicKeys = (proto) => Reflect.ownKeys(proto).filter((key) =>
      typeof key === 'string' ? key !== 'constructor' : key === Symbol.asyncDispose);
    const missing = publicKeys(NodeWorker.prototype).filter((key) => !(key in Worker.prototype));
    // stdin/stdout/stderr and threadId are accessors on Node's prototype, own fields on corral's
    // instances.
    assert.deepStrictEqual(missing.filter((key) => !['stdin', 'stdout', 'stderr', 'threadId'].includes(key)), []);
    for (const key of ['cpuUsage', 'getHeapStatistics', 'startCpuProfile', 'startHeapProfile', 'threadName']) {
      assert.strictEqual(key in Worker.prototype, key in NodeWorker.prototype, `Worker.prototype.${key}`);
    }
    assert.strictEqual(Symbol.asyncDispose in Worker.prototype, Symbol.asyncDispose in NodeWorker.prototype);
  });

  it('the additions (postMessageToThread, markAsUncloneable, threadName, locks, profiles, ...) behave as the built-ins', async () => {
    const { node, corral } = await runBoth(fixture('line-additions.js'), [], { timeout: 60000 });
    const pidless = (text) => text.replace(/^\(node:\d+\)/gm, '(node)');  // deprecation warnings
    assert.strictEqual(pidless(corral.stderr), pidless(node.stderr));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /-- locks/);
  });
});
