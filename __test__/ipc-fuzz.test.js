'use strict';
// A misbehaving child (or parent) can never take the other down: the fuzz harness's short run
// (__test__/fuzz/ipc-fuzz.js; `npm run fuzz` runs 100,000 frames). Worker threads: random
// messages give what node gives, message by message (__test__/fuzz/worker-fuzz.js;
// `npm run fuzz:workers` runs 100,000).
const test = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { run } = require('./helpers');

test('random and mutated IPC frames (json, advanced, with descriptors) leave the parent alive, leak nothing', async () => {
  const res = await run(['--expose-gc', path.join(__dirname, 'fuzz', 'ipc-fuzz.js'), '--frames', '1500', '--seed', '42'],
    { timeout: 180000 });
  const summary = JSON.parse(res.stdout);
  assert.deepStrictEqual(summary.uncaught, []);
  assert.strictEqual(summary.fdDelta <= 0, true, JSON.stringify(summary.fdsAdded));
  assert.strictEqual(summary.healthyFailures, 0);
  assert.strictEqual(summary.childCrashes, 0);
  assert.ok(summary.errors + summary.warnings > 0, 'bad frames were reported');
  assert.strictEqual(res.code, 0, res.stdout);
});

test('a bad frame is reported as ERR_CORRAL_IPC_BAD_FRAME and closes only that channel', async () => {
  const res = await run([path.join(__dirname, 'fixtures', 'cp-bad-frame.js'), 'listen'], { timeout: 30000 });
  const lines = res.stdout.trim().split('\n').sort();
  assert.deepStrictEqual(lines, [
    'advanced error ERR_CORRAL_IPC_BAD_FRAME advanced number',
    'advanced exit 0',
    'advanced parent got {"before":1}',
    'advanced parent: disconnect',
    'child: disconnect',
    'child: disconnect',
    'json error ERR_CORRAL_IPC_BAD_FRAME json number',
    'json exit 0',
    'json parent got {"before":1}',
    'json parent: disconnect',
  ], res.stderr);
});

test("random messages to a worker (clone errors, messageerror at either end) give what node's give, one by one", async () => {
  const res = await run([path.join(__dirname, 'fuzz', 'worker-fuzz.js'), '--compare', '--messages', '1500', '--seed', '11'],
    { timeout: 180000 });
  const summary = JSON.parse(res.stdout);
  assert.strictEqual(summary.same, true, JSON.stringify(summary.firstDifference));
  assert.ok(summary.corral.cloneErrors > 0 && summary.corral.messageerrors > 0 && summary.corral.echoed > 0, res.stdout);
  assert.strictEqual(res.code, 0, res.stderr);
});
