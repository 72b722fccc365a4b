'use strict';
// corral/worker_threads: Node's worker_threads API on threads that Rust owns. Each Node line's
// additions are exported where that line's built-in has them (lib/worker_threads/line.js).
const { Worker, SHARE_ENV } = require('./worker');
const { MessagePort, MessageChannel, receiveMessageOnPort, moveMessagePortToContext } = require('./port');
const { BroadcastChannel } = require('./broadcast');
const { markAsUntransferable, isMarkedAsUntransferable } = require('./untransferable');
const line = require('./line');
const state = require('./state');

// Where this line's classes name themselves to Object.prototype.toString (and so util.inspect).
line.matchStringTag('MessagePort', MessagePort);
line.matchStringTag('MessageChannel', MessageChannel);
line.matchStringTag('BroadcastChannel', BroadcastChannel);

function setEnvironmentData(key, value) {
  if (value === undefined) state.environmentData.delete(key);
  else state.environmentData.set(key, value);
}

function getEnvironmentData(key) {
  return state.environmentData.get(key);
}

// A marked object makes corral's structured clone throw, and Node's own (structuredClone, its
// ports) too.
function markAsUncloneable(object) {
  if ((typeof object !== 'object' && typeof object !== 'function') || object === null) return;
  line.builtin.markAsUncloneable?.(object);
  require('../binding').native.markUncloneable(object);
}

const exported = {
  Worker,
  MessageChannel,
  MessagePort,
  receiveMessageOnPort,
  moveMessagePortToContext,
  BroadcastChannel,
  markAsUntransferable,
  isMarkedAsUntransferable,
  markAsUncloneable,
  SHARE_ENV,
  setEnvironmentData,
  getEnvironmentData,
  postMessageToThread(threadId, value, transferList, timeout) {
    return require('./messaging').postMessageToThread(threadId, value, transferList, timeout);
  },
  isInternalThread: false,
  get isMainThread() { return state.isMainThread; },
  get parentPort() { return state.parentPort; },
  get workerData() { return state.workerData; },
  get threadId() { return state.threadId; },
  get resourceLimits() { return state.resourceLimits; },
  get threadName() { return state.threadName; },
};

// Node's Web Locks: one lock manager for the whole process, which corral's threads (Node
// environments of their own) share with the main thread. In a corral worker it is read on first
// use (Node's lock manager brings Node's worker internals, all of `stream` with them): an
// accessor that leaves the value in its place (lib/register.js copies it as it is).
if (line.inCorralWorker()) {
  const readLocks = function () {
    const value = line.builtin.locks;
    Object.defineProperty(this, 'locks', { value, writable: true, enumerable: true, configurable: true });
    return value;
  };
  readLocks[Symbol.for('corral.lazyExport')] = true;
  Object.defineProperty(exported, 'locks', { get: readLocks, enumerable: true, configurable: true });
} else {
  exported.locks = line.builtin.locks;
}

// This line's set: what the built-in exports (corral serves all of it but the names in
// line.unserved), and corral's own extras none.
module.exports = {};
for (const key of Object.keys(line.builtin)) {
  if (key in exported) Object.defineProperty(module.exports, key, Object.getOwnPropertyDescriptor(exported, key));
}
require('../builtins').loaded('worker_threads');
