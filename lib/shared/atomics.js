'use strict';
// wait / notify / waitAsync on a process-shared futex: like Atomics.wait/notify/waitAsync, but a
// waiter in one process is woken by a notify in another (V8's own never cross processes).
const binding = require('../binding');
const { validateWord, toTimeout, toCount } = require('./validate');
const { invalidArgType } = require('../errors');

const kResults = ['ok', 'not-equal', 'timed-out'];

function toValue(value) {
  if (typeof value !== 'number') throw invalidArgType('value', 'number', value);
  return value | 0;
}

// Blocks this thread while typedArray[index] === value, until notify() or the timeout (ms).
// Returns 'ok', 'not-equal' or 'timed-out', as Atomics.wait does.
function wait(typedArray, index, value, timeout) {
  validateWord(typedArray, index);
  return kResults[binding.sharedWait(typedArray, index, toValue(value), toTimeout(timeout))];
}

// Wakes up to `count` (default: all) waiters on typedArray[index], in any process or thread,
// including threads of this process blocked in Atomics.wait on it. Returns how many woke.
function notify(typedArray, index, count) {
  validateWord(typedArray, index);
  const want = toCount(count);
  let woke = binding.sharedNotify(typedArray, index, want);
  if (woke < want) woke += Atomics.notify(typedArray, index, want === Infinity ? undefined : want - woke);
  return woke;
}

// waitAsync: a pool thread sleeps in the futex; the outcome comes back to this event loop.
const pending = new Map();
let nextId = 1;
let initialized = false;

function onOutcome(id, code) {
  const entry = pending.get(id);
  if (entry === undefined) return;
  pending.delete(id);
  if (pending.size === 0) binding.sharedWaiterRef(false);
  entry.resolve(kResults[code]);
}

function takeId() {
  do {
    nextId = nextId >= 0xffffffff ? 1 : nextId + 1;
  } while (pending.has(nextId));
  return nextId;
}

// Like Atomics.waitAsync: { async: false, value: 'not-equal' | 'timed-out' } when it is decided
// at once, else { async: true, value: Promise<'ok' | 'timed-out'> }. A pending wait keeps the
// event loop alive (unlike Atomics.waitAsync): it is waiting on another thread or process.
function waitAsync(typedArray, index, value, timeout) {
  validateWord(typedArray, index);
  const expected = toValue(value);
  const ms = toTimeout(timeout);
  if (Atomics.load(typedArray, index) !== expected) return { async: false, value: 'not-equal' };
  if (ms === 0) return { async: false, value: 'timed-out' };
  if (!initialized) {
    binding.sharedWaiterInit(onOutcome);
    initialized = true;
  }
  const id = takeId();
  const promise = new Promise((resolve) => {
    // The array is held here so its memory stays mapped while a pool thread waits on it.
    pending.set(id, { resolve, typedArray });
  });
  if (pending.size === 1) binding.sharedWaiterRef(true);
  try {
    binding.sharedWaitAsync(typedArray, index, expected, ms, id);
  } catch (err) {
    pending.delete(id);
    if (pending.size === 0) binding.sharedWaiterRef(false);
    throw err;
  }
  return { async: true, value: promise };
}

// Internal fast paths (arguments already validated).
function rawWait(typedArray, index, value, timeout) {
  return binding.sharedWait(typedArray, index, value, timeout);
}
function rawNotify(typedArray, index, count) {
  return binding.sharedNotify(typedArray, index, count);
}

module.exports = { wait, notify, waitAsync, rawWait, rawNotify };
