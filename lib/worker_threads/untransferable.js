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
const builtin = (() => {
  const wt = require('./line').builtin;
  return { mark: wt.markAsUntransferable, isMarked: wt.isMarkedAsUntransferable };
})();
const pools = new WeakSet();

function notePool() {
  pools.add(Buffer.allocUnsafe(1).buffer);
}
notePool();

function markAsUntransferable(object) {
  if ((typeof object !== 'object' && typeof object !== 'function') || object === null) return;
  native.markUntransferable(object);
  try {
    builtin.mark?.(object); // so Node's own structuredClone respects it too
  } catch {}
}

function isMarkedAsUntransferable(object) {
  if ((typeof object !== 'object' && typeof object !== 'function') || object === null) return false;
  if (native.isMarkedUntransferable(object) || pools.has(object)) return true;
  try {
    return builtin.isMarked?.(object) === true;
  } catch {
    return false;
  }
}

// Applies the rule to a transfer list (an array); returns the list to actually transfer. It holds
// for marked MessagePorts too (Node 20 then finds the port missing from the list).
function applyToTransferList(list) {
  const transferable = (item) => item instanceof ArrayBuffer || native.isPort(item);
  if (!list.some(transferable)) return list;
  if (major < 22 && list.some((item) => item instanceof ArrayBuffer)) notePool();
  const marked = list.filter((item) => transferable(item) && isMarkedAsUntransferable(item));
  if (marked.length === 0) return list;
  if (major >= 22) throw new DOMException('Cannot transfer object of unsupported type.', 'DataCloneError');
  return list.filter((item) => !marked.includes(item));
}

module.exports = { markAsUntransferable, isMarkedAsUntransferable, applyToTransferList };
