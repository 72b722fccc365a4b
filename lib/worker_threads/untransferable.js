'use strict';
// markAsUntransferable / isMarkedAsUntransferable, and the transfer-list rule that goes with
// them: Node 20 copies a marked ArrayBuffer instead of moving it (and leaves a marked port out of
// the list); newer lines throw.
//
// Node marks its own Buffer pools with a private symbol that no public API can read on Node 20
// (newer lines expose isMarkedAsUntransferable). Moving a pool would detach every small Buffer
// carved from it, so on Node 20 the pools are recognised by sampling the current one whenever
// a transfer list holds an ArrayBuffer (a pool is current while its Buffers are being made).
const { native } = require('../binding');

const { major } = require('../node-line');
// Node's own functions, read on first use (line.builtin: in a worker, Node's own module is not
// loaded for them).
const line = require('./line');
const pools = new WeakSet();
// Byte lengths the pools seen so far had: an ArrayBuffer of another length (and not of the
// current Buffer.poolSize, which the next pool gets) cannot be one, so needs no sampling.
const poolLengths = new Set();

function notePool() {
  const pool = Buffer.allocUnsafe(1).buffer;
  pools.add(pool);
  poolLengths.add(pool.byteLength);
}
notePool();

function mayBePool(item) {
  return item instanceof ArrayBuffer && (item.byteLength === Buffer.poolSize || poolLengths.has(item.byteLength));
}

function markAsUntransferable(object) {
  if ((typeof object !== 'object' && typeof object !== 'function') || object === null) return;
  native.markUntransferable(object);
  try {
    line.builtin.markAsUntransferable?.(object); // so Node's own structuredClone respects it too
  } catch {}
}

// Node's own check (its marks are private to Node), read once.
let nodeIsMarked = null;
function isMarkedAsUntransferable(object) {
  if ((typeof object !== 'object' && typeof object !== 'function') || object === null) return false;
  if (native.isMarkedUntransferable(object) || pools.has(object)) return true;
  try {
    nodeIsMarked ??= line.builtin.isMarkedAsUntransferable ?? (() => false);
    return nodeIsMarked(object) === true;
  } catch {
    return false;
  }
}

// Applies the rule to a transfer list (an array); returns the list to actually transfer. It holds
// for marked MessagePorts too (Node 20 then finds the port missing from the list).
function applyToTransferList(list) {
  let marked = null;
  let sampled = major >= 22;
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (!(item instanceof ArrayBuffer) && !native.isPort(item)) continue;
    if (!sampled && mayBePool(item)) {
      notePool();
      sampled = true;
    }
    if (isMarkedAsUntransferable(item)) (marked ??= []).push(item);
  }
  if (marked === null) return list;
  if (major >= 22) throw new DOMException('Cannot transfer object of unsupported type.', 'DataCloneError');
  return list.filter((item) => !marked.includes(item));
}

module.exports = { markAsUntransferable, isMarkedAsUntransferable, applyToTransferList };
