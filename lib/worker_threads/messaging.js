'use strict';
// postMessageToThread() and the 'workerMessage' process event: any thread posts to any other
// by its threadId. Each thread has a mailbox (a native port the Rust registry feeds, unref'd);
// the sender waits on a SharedArrayBuffer that the receiver settles once its 'workerMessage'
// listeners have run (delivered, no listener, or a listener threw).
const { native } = require('../binding');
const { makeError, invalidArgType, outOfRange } = require('../errors');
const state = require('./state');

const kStatus = 0;  // 0 while pending, 1 once the receiver has answered
const kResult = 1;
const DELIVERED = 0;
const NO_LISTENERS = 1;
const LISTENER_THREW = 2;

let mailbox = null;

// Opens this thread's mailbox (once): workers at boot, the main thread with its first Worker
// or postMessageToThread call, so a thread that uses none of this pays nothing.
function openMailbox() {
  if (mailbox !== null) return;
  mailbox = native.mailbox.open();
  mailbox.on('message', receive);
  mailbox.unref();
}

function receive({ source, value, status }) {
  let result = NO_LISTENERS;
  try {
    if (process.emit('workerMessage', value, source)) result = DELIVERED;
  } catch {
    // As Node: the sender learns that a listener threw; this thread goes on.
    result = LISTENER_THREW;
  }
  const word = new Int32Array(status);
  Atomics.store(word, kResult, result);
  Atomics.store(word, kStatus, 1);
  Atomics.notify(word, kStatus);
}

const failed = () => makeError(Error, 'ERR_WORKER_MESSAGING_FAILED', 'Cannot find the destination thread or listener');

async function postMessageToThread(threadId, value, transferList, timeout) {
  if (typeof transferList === 'number' && timeout === undefined) {
    timeout = transferList;
    transferList = [];
  }
  if (timeout !== undefined) {
    if (typeof timeout !== 'number') throw invalidArgType('timeout', 'number', timeout);
    if (!(timeout >= 0)) throw outOfRange('timeout', '>= 0', timeout);
  }
  if (threadId === state.threadId) {
    throw makeError(Error, 'ERR_WORKER_MESSAGING_SAME_THREAD', 'Cannot sent a message to the same thread');
  }
  openMailbox();
  const status = new SharedArrayBuffer(8);
  const word = new Int32Array(status);
  const answered = Atomics.waitAsync(word, kStatus, 0, timeout).value;
  // Checked as postMessage checks it: any iterable, Node's untransferable marks.
  const port = require('./port');
  const list = port.normalizeTransfer(transferList);
  port.armJsTransferables(list);
  if (!native.mailbox.post(threadId, { source: state.threadId, value, status }, list ?? [])) throw failed();
  if (await answered === 'timed-out') {
    throw makeError(Error, 'ERR_WORKER_MESSAGING_TIMEOUT', 'Sending a message to another thread timed out');
  }
  switch (Atomics.load(word, kResult)) {
    case NO_LISTENERS: throw failed();
    case LISTENER_THREW:
      throw makeError(Error, 'ERR_WORKER_MESSAGING_ERRORED',
        'The destination thread threw an error while processing the message');
    default: return undefined;
  }
}

module.exports = { postMessageToThread, openMailbox };
