'use strict';
// Fuzzes what worker threads pass each other: random values (nested, circular, typed arrays,
// Maps, errors, shared memory, things that cannot be cloned, ports left out of the transfer
// list, objects whose transfer fails on the receiving side) go to a worker that echoes them
// back. Each message's outcome is printed as one line (what came back, a DataCloneError thrown
// to the sender, or a 'messageerror' at either end), so a run of corral's worker_threads and a
// run of node's with the same seed can be compared line by line.
//   node __test__/fuzz/worker-fuzz.js [--impl corral|node] [--messages 2000] [--seed 1]
//   node __test__/fuzz/worker-fuzz.js --compare [--messages 2000] [--seed 1]
// --compare runs both and exits 1 at the first message whose outcome differs.
const util = require('util');
const fs = require('fs');
const path = require('path');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const impl = arg('impl', 'corral');
const total = Number(arg('messages', 2000));
const wt = impl === 'node' ? require('worker_threads') : require('../../worker_threads.js');

// mulberry32: the same seed gives the same values in both runs.
let state = Number(arg('seed', 1)) >>> 0;
function random() {
  state = (state + 0x6D2B79F5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(random() * n);
const pick = (items) => items[int(items.length)];

function randomString() {
  let s = '';
  for (let n = int(12); n > 0; n--) {
    const kind = int(4);
    s += kind === 0 ? String.fromCharCode(0xD800 + int(0x800)) :  // lone surrogates too
      kind === 1 ? String.fromCodePoint(0x1F300 + int(200)) : String.fromCharCode(32 + int(95));
  }
  return s;
}

const primitives = [
  () => undefined, () => null, () => random() < 0.5, () => int(1e9) - 5e8, () => random() * 1e6,
  () => pick([NaN, -0, Infinity, -Infinity, Number.MAX_SAFE_INTEGER]), randomString,
  () => BigInt(int(1e9)) ** BigInt(int(4)) * (random() < 0.5 ? -1n : 1n),
];

// Returns [value, transferList]. `refs` keeps earlier objects for circular references.
function randomValue(depth, refs, transfer) {
  if (depth <= 0 || random() < 0.3) return pick(primitives)();
  const kind = int(24);
  const child = () => randomValue(depth - 1, refs, transfer);
  let value;
  switch (kind) {
    case 0: case 1: case 2: {
      value = {};
      for (let n = int(5); n > 0; n--) value[random() < 0.2 ? String(int(10)) : randomString()] = child();
      break;
    }
    case 3: case 4: {
      value = Array.from({ length: int(5) }, child);
      if (random() < 0.2) value[int(50) + 10] = child();  // sparse
      break;
    }
    case 5: value = new Map(Array.from({ length: int(4) }, () => [child(), child()])); break;
    case 6: value = new Set(Array.from({ length: int(4) }, child)); break;
    case 7: value = new Date(int(2e12)); break;
    case 8: value = new RegExp(pick(['a+b', '^x$', '[\\u0100-\\uffff]', '(?<n>\\d)']), pick(['', 'g', 'imsu', 'y'])); break;
    case 9: {
      const E = pick([Error, TypeError, RangeError, SyntaxError, EvalError, URIError]);
      value = new E(randomString());
      if (random() < 0.5) value.cause = child();
      value.stack = 'fuzz';  // the same in both runs
      break;
    }
    case 10: {
      const T = pick([Uint8Array, Int16Array, Float64Array, BigInt64Array, Uint8ClampedArray]);
      value = new T(int(8));
      for (let i = 0; i < value.length; i++) value[i] = T === BigInt64Array ? BigInt(int(1000)) : int(256);
      if (random() < 0.3) value = new DataView(value.buffer, 0, value.byteLength);
      break;
    }
    case 11: {
      value = new ArrayBuffer(int(32));
      new Uint8Array(value).fill(int(256));
      if (random() < 0.5) transfer.push(value);  // moved: detached here afterwards
      break;
    }
    case 12: value = new SharedArrayBuffer(int(16) + 1); new Uint8Array(value)[0] = int(256); break;
    case 13: value = pick([new Number(int(9)), new String(randomString()), new Boolean(random() < 0.5), Object(7n)]); break;
    case 14: value = refs.length > 0 ? pick(refs) : {}; return value;  // a shared or circular reference
    case 15: value = { get lazy() { return int(100); }, plain: child() }; break;
    // What cannot be cloned: the sender gets a DataCloneError and nothing is sent.
    case 16: value = pick([() => 1, Symbol('s'), new WeakMap(), Promise.resolve(1)]); break;
    case 17: value = { nested: [child(), { fn() {} }] }; break;
    case 18: {  // a port: fine in the transfer list, an error outside it
      const { port1, port2 } = new wt.MessageChannel();
      Object.defineProperty(port1, util.inspect.custom, { value: () => 'MessagePort' });  // (fields differ)
      if (random() < 0.5) transfer.push(port1);
      port2.close();
      value = port1;
      break;
    }
    case 19: value = new (class Point { constructor() { this.x = int(9); } m() {} })(); break;  // as a plain object
    case 20: {  // the same ArrayBuffer twice in the transfer list
      value = new ArrayBuffer(4);
      transfer.push(value, value);
      break;
    }
    case 21: {  // a transferred buffer that is also a view's buffer
      const bytes = new Uint8Array(int(8) + 1);
      transfer.push(bytes.buffer);
      value = { bytes, again: bytes };
      break;
    }
    default: value = [child(), child()];
  }
  refs.push(value);
  return value;
}

// Objects that transfer themselves (a FileHandle) with a spec the receiver cannot make: the
// message becomes 'messageerror' at the receiving end.
async function forgedTransfer() {
  const handle = await fs.promises.open(__filename);
  const symbol = (description) => Object.getOwnPropertySymbols(Object.getPrototypeOf(handle))
    .find((s) => s.description === description);
  handle[symbol('messaging_transfer_symbol')] = () => ({ data: 'x', deserializeInfo: `${__filename}:NoSuchClass` });
  handle[symbol('messaging_transfer_list_symbol')] = () => [];
  Object.defineProperty(handle, util.inspect.custom, { value: () => 'FileHandle (forged)' });  // (no fd number)
  return handle;
}

const show = (value) => util.inspect(value, { depth: 6, breakLength: Infinity, maxArrayLength: 20, maxStringLength: 40 });

async function main() {
  const worker = new wt.Worker(`
    const { parentPort } = require('worker_threads');
    parentPort.on('message', (m) => {
      try { parentPort.postMessage(m); } catch (e) { parentPort.postMessage({ echoError: e.name + ': ' + e.message }); }
    });
    parentPort.on('messageerror', (e) => parentPort.postMessage({ workerMessageerror: e.message.replace(${JSON.stringify(__filename)}, '<file>') }));`,
  { eval: true });
  const replies = [];
  let wake = null;
  const arrive = (reply) => { replies.push(reply); wake?.(); };
  worker.on('message', (m) => arrive(['message', m]));
  worker.on('messageerror', (e) => arrive(['messageerror', e.message]));
  worker.on('error', (e) => arrive(['error', `${e.name}: ${e.message}`]));
  const next = () => (replies.length > 0 ? Promise.resolve(replies.shift()) :
    new Promise((resolve) => { wake = () => { wake = null; resolve(replies.shift()); }; }));
  const counts = { echoed: 0, cloneErrors: 0, messageerrors: 0 };
  for (let i = 0; i < total; i++) {
    const transfer = [];
    const forged = random() < 0.01 ? await forgedTransfer() : null;
    const value = forged ?? randomValue(4, [], transfer);
    if (forged) transfer.push(forged);
    const before = show(value);
    let line;
    try {
      worker.postMessage({ i, value }, transfer);
      const [kind, reply] = await next();
      if (kind === 'message' && reply?.workerMessageerror !== undefined) {
        counts.messageerrors++;
        line = `messageerror in the worker: ${reply.workerMessageerror}`;
      } else if (kind === 'message' && reply?.echoError !== undefined) {
        line = `echo failed: ${reply.echoError}`;
      } else if (kind === 'message') {
        counts.echoed++;
        line = `${reply.i === i ? 'echoed' : `out of order ${reply.i}`} ${show(reply.value)}`;
      } else {
        line = `${kind}: ${reply}`;
      }
    } catch (e) {
      counts.cloneErrors++;
      line = `${e.name} (${e.code ?? 'no code'}): ${e.message}`;
    }
    await forged?.close().catch(() => {});
    console.log(`${i} ${line} | sent ${before}`);
  }
  await worker.terminate();
  console.error(JSON.stringify({ impl, messages: total, ...counts }));
}

// Runs both implementations in processes of their own and compares their outcomes.
function compare() {
  const { spawnSync } = require('child_process');
  const runs = ['node', 'corral'].map((which) => {
    const res = spawnSync(process.execPath, [__filename, '--impl', which, '--messages', String(total),
      '--seed', String(arg('seed', 1))], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (res.status !== 0) throw new Error(`${which} run failed (${res.status ?? res.signal}): ${res.stderr}`);
    return { lines: res.stdout.split('\n'), summary: JSON.parse(res.stderr.trim().split('\n').pop()) };
  });
  const [node, corral] = runs;
  const at = node.lines.findIndex((line, i) => line !== corral.lines[i]);
  const same = at < 0 && node.lines.length === corral.lines.length;
  console.log(JSON.stringify({ messages: total, same, node: node.summary, corral: corral.summary,
    ...(same ? {} : { firstDifference: { node: node.lines[at], corral: corral.lines[at] } }) }));
  process.exitCode = same ? 0 : 1;
}

if (process.argv.includes('--compare')) compare();
else main();
