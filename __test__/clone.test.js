'use strict';
// Structured clone through corral's ports: Node's semantics, transfers, SharedArrayBuffers.
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { Worker, MessageChannel } = require('../worker_threads');
const { fixture, runBoth, once } = require('./helpers');

const echo = () => new Worker(`
  const { parentPort } = require('worker_threads');
  parentPort.on('message', (m) => m === 'end' ? parentPort.close() : parentPort.postMessage(m));`, { eval: true });

describe('structured clone', () => {
  it('gives the same values and errors as node:worker_threads (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('clone.js'));
    assert.strictEqual(corral.stdout, node.stdout);
    assert.match(node.stdout, /Map\(1\)/);
  });

  it('Blobs and Files cross threads as in node: bytes, type, slices, subclasses, a File as a File from Node 24 (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('blob-clone.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /^worker: Blob size 300004 type "application\/octet-stream" text sha1 [0-9a-f]{40}$/m);
    assert.match(node.stdout, /^worker: \[Blob size 5 type "" text "twice", Blob size 5 type "" text "twice"\] \(one object twice\)$/m);
  });

  it('a lone transferred ArrayBuffer or a view over one (moved without the serializer) arrives as in node, and its neighbours too (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('transfer-buffer.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /^uint16: Uint16Array len 5 off 2 buf 64 first 6161 own  \| sender keeps 0 view now 0$/m);
    assert.match(node.stdout, /^dataView: DataView len 10 off 3 buf 64 first 24 own $/m);
  });

  it('crypto KeyObjects travel as the same keys of the same classes, to workers and through channels (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('key-object-clone.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /privateKey true PrivateKeyObject\n/);
  });

  it("Node's own classes: URL refused, streams need a transfer list, AbortSignal plain, DOMException, SocketAddress, BlockList, Blob and X509Certificate cloned, as node; histograms refused (fixture)", async () => {
    const { node, corral } = await runBoth(fixture('node-classes-clone.js'));
    const lines = (out) => Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l]));
    const [n, c] = [lines(node.stdout), lines(corral.stdout)];
    for (const name of ['url', 'urlSearchParams', 'readableStream', 'abortSignal', 'domException', 'domExceptionDetail', 'plainWithUrlInside',
      'classInstance', 'socketAddress', 'blob', 'x509Certificate', 'blockList', 'blockListWithRules']) {
      assert.strictEqual(c[name], n[name]);
    }
    for (const name of ['histogram']) {
      assert.match(c[name], /^\w+: throws DataCloneError \S* ?Cannot (clone|transfer) object of unsupported type\. \| worker: throws DataCloneError/);
    }
  });

  it('web streams in a transfer list cross threads as in node: chunks, close, errors, cancel, both ways (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('web-stream-transfer.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /main got \{"transformed":\["T1","T2"\],"isTransform":true\}\n/);
    assert.match(node.stdout, /channel read local\n$/);
  });

  it('webcrypto CryptoKeys cross as the same keys where the line can make them again (KeyObject.toCryptoKey), else are refused (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('crypto-key-clone.js'));
    assert.match(node.stdout, /rsaPrivate true private .*RSA-PSS/);
    if (typeof require('crypto').KeyObject.prototype.toCryptoKey === 'function') {
      assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
      assert.strictEqual(corral.stderr, node.stderr);  // no deprecation warning of corral's own
    } else {
      assert.match(corral.stdout, /^hmac refused DataCloneError .*unsupported type/m);
      assert.match(corral.stdout, /^structuredClone true true HMAC$/m);  // Node's own structuredClone
    }
  });

  it("structuredClone and postMessageToThread keep Node's untransferable marks (a Buffer pool is never moved) and take any iterable, as node (fixture)", async () => {
    const { node, corral } = await runBoth(fixture('untransferable-clone.js'));
    assert.strictEqual(corral.stdout, node.stdout, corral.stderr);
    assert.match(node.stdout, /other buffer: "other data" made later\n/);
  });

  it('transferred web streams keep threads alive as in node: an unread one none, a slow one its sender until it ends (fixture)', async () => {
    const { node, corral } = await runBoth(fixture('web-stream-lifetime.js'));
    const lines = (out) => out.trim().split('\n').sort();
    assert.strictEqual(corral.code, 0, corral.stderr);
    assert.deepStrictEqual(lines(corral.stdout), lines(node.stdout));
    assert.match(node.stdout, /read from the worker 0,1,2,3/);
  });

  it('round-trips rich values through a worker', async () => {
    const w = echo();
    const circular = { a: 1 };
    circular.self = circular;
    const value = {
      map: new Map([[{ k: 1 }, new Set([1n])]]), date: new Date(5), re: /x/y, big: 2n ** 70n,
      typed: new Int16Array([-1, 2]), err: new TypeError('bad'), circular, arr: [1, [2, [3]]],
    };
    w.postMessage(value);
    const back = await once(w, 'message');
    w.postMessage('end');
    assert.ok(back.map instanceof Map && back.date instanceof Date && back.re.sticky);
    assert.deepStrictEqual([...back.map.values()][0], new Set([1n]));
    assert.strictEqual(back.big, 2n ** 70n);
    assert.deepStrictEqual([...back.typed], [-1, 2]);
    assert.ok(back.err instanceof TypeError && back.err.message === 'bad');
    assert.strictEqual(back.circular.self, back.circular);
  });

  it('throws DataCloneError for functions and symbols and sends nothing', async () => {
    const { port1, port2 } = new MessageChannel();
    for (const bad of [() => 1, Symbol('s'), { nested: { fn() {} } }]) {
      assert.throws(() => port1.postMessage(bad), (e) => e instanceof DOMException && e.name === 'DataCloneError');
    }
    port1.postMessage('after');
    assert.strictEqual(await once(port2, 'message'), 'after');
    port1.close();
  });

  it('moves transferred ArrayBuffers without copying and detaches them at the sender', async () => {
    const w = echo();
    const ab = new ArrayBuffer(1 << 20);
    new Uint8Array(ab)[12345] = 77;
    w.postMessage({ ab }, [ab]);
    assert.strictEqual(ab.byteLength, 0);
    const back = await once(w, 'message');
    assert.strictEqual(back.ab.byteLength, 1 << 20);
    assert.strictEqual(new Uint8Array(back.ab)[12345], 77);
    w.postMessage('end');
  });

  it('a failed postMessage detaches nothing', () => {
    const { port1 } = new MessageChannel();
    const ab = new ArrayBuffer(8);
    assert.throws(() => port1.postMessage({ ab, f() {} }, [ab]));
    assert.strictEqual(ab.byteLength, 8);
    port1.close();
  });

  it('shares SharedArrayBuffer memory: 4 workers x 100000 Atomics.add = 400000', async () => {
    const sab = new SharedArrayBuffer(8);
    const counter = new Int32Array(sab);
    const workers = Array.from({ length: 4 }, () => new Worker(`
      const c = new Int32Array(require('worker_threads').workerData);
      for (let i = 0; i < 100000; i++) Atomics.add(c, 0, 1);`, { eval: true, workerData: sab }));
    await Promise.all(workers.map((w) => once(w, 'exit')));
    assert.strictEqual(Atomics.load(counter, 0), 400000);
  });

  it('Atomics.wait in a worker is woken by Atomics.notify from the main thread', async () => {
    const sab = new SharedArrayBuffer(8);
    const cell = new Int32Array(sab);
    const w = new Worker(`
      const { workerData, parentPort } = require('worker_threads');
      const cell = new Int32Array(workerData);
      parentPort.postMessage('waiting');
      parentPort.postMessage(Atomics.wait(cell, 0, 0, 10000) + ':' + Atomics.load(cell, 0));`,
    { eval: true, workerData: sab });
    assert.strictEqual(await once(w, 'message'), 'waiting');
    await new Promise((r) => setTimeout(r, 20));
    Atomics.store(cell, 0, 5);
    Atomics.notify(cell, 0);
    assert.strictEqual(await once(w, 'message'), 'ok:5');
  });
});
