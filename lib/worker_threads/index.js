'use strict';
// corral/worker_threads: Node's worker_threads API on threads that Rust owns.
const { Worker, SHARE_ENV } = require('./worker');
const { MessagePort, MessageChannel, receiveMessageOnPort } = require('./port');
const { BroadcastChannel } = require('./broadcast');
const { markAsUntransferable, isMarkedAsUntransferable } = require('./untransferable');
const state = require('./state');

function setEnvironmentData(key, value) {
  if (value === undefined) state.environmentData.delete(key);
  else state.environmentData.set(key, value);
}

function getEnvironmentData(key) {
  return state.environmentData.get(key);
}

module.exports = {
  Worker,
  MessageChannel,
  MessagePort,
  receiveMessageOnPort,
  BroadcastChannel,
  markAsUntransferable,
  // Node 20 has no isMarkedAsUntransferable; newer lines do.
  ...(Number(process.versions.node.split('.')[0]) >= 21 ? { isMarkedAsUntransferable } : {}),
  SHARE_ENV,
  setEnvironmentData,
  getEnvironmentData,
  get isMainThread() { return state.isMainThread; },
  get parentPort() { return state.parentPort; },
  get workerData() { return state.workerData; },
  get threadId() { return state.threadId; },
  get resourceLimits() { return state.resourceLimits; },
};
