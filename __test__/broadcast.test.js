'use strict';
// BroadcastChannel across threads; markAsUntransferable and Node's Buffer pools.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const wt = require('../worker_threads');
const { fixture, runBoth, once } = require('./helpers');

const { BroadcastChannel, Worker, MessageChannel, markAsUntransferable, receiveMessageOnPort } = wt;
const major = Number(process.versions.node.split('.')[0]);

describe('BroadcastChannel', () => {
  it('reaches every other member of the same name, in any thread, and not itself', async () => {
    const a = new BroadcastChannel('t-bc');
    const b = new BroadcastChannel('t-bc');
    const other = new BroadcastChannel('t-other');
    const got = { a: [], b: [], other: [] };
    a.onmessage = (e) => got.a.push(e.data);
    b.addEventListener('message', (e) => got.b.push(e.data));
    other.onmessage = (e) => got.other.push(e.data);
    const w = new Worker(`
      const { BroadcastChannel } = require('worker_threads');
      const c = new BroadcastChannel('t-bc');
      c.onmessage = (e) => { c.postMessage('echo ' + e.data); c.close(); };
      require('worker_threads').parentPort.postMessage('ready');`, { eval: true });
    await once(w, 'message');
    a.postMessage('hi');
    await once(w, 'exit');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepStrictEqual(got, { a: ['echo hi'], b: ['hi', 'echo hi'], other: [] });
    for (const ch of [a, b, other]) ch.close();
  });

  it('throws InvalidStateError after close and DataCloneError for uncloneable values', () => {
    const ch = new BroadcastChannel('t-closed');
    assert.throws(() => ch.postMessage(() => {}), { name: 'DataCloneError' });
    ch.close();
    assert.throws(() => ch.postMessage(1), { name: 'InvalidStateError' });
    assert.strictEqual(ch.name, 't-closed');
  });

  it('behaves like node:worker_threads on the same script', async () => {
    const { node, corral } = await runBoth(fixture('broadcast.js'));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /b got/);
  });
});

describe('markAsUntransferable', () => {
  it(`${major >= 22 ? 'refuses' : 'copies instead of moving'} a marked ArrayBuffer in a transfer list`, () => {
    const { port1, port2 } = new MessageChannel();
    const ab = new ArrayBuffer(8);
    markAsUntransferable(ab);
    if (major >= 22) {
      assert.throws(() => port1.postMessage(ab, [ab]), { name: 'DataCloneError' });
      assert.strictEqual(wt.isMarkedAsUntransferable(ab), true);
    } else {
      port1.postMessage(ab, [ab]);
      assert.strictEqual(ab.byteLength, 8);
      assert.strictEqual(receiveMessageOnPort(port2).message.byteLength, 8);
    }
    port1.close();
  });

  it("never detaches Node's Buffer pool", () => {
    const { port1, port2 } = new MessageChannel();
    const small = Buffer.from('pooled bytes');
    const neighbour = Buffer.from('neighbour');
    assert.strictEqual(small.buffer, neighbour.buffer);
    try {
      port1.postMessage(small, [small.buffer]);
      assert.strictEqual(receiveMessageOnPort(port2).message.length, small.length);
    } catch (e) {
      assert.strictEqual(e.name, 'DataCloneError');
    }
    assert.strictEqual(neighbour.toString(), 'neighbour');
    assert.strictEqual(small.toString(), 'pooled bytes');
    port1.close();
  });
});
