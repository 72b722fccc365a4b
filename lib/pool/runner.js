'use strict';
// The entry of every pool worker (a corral worker thread). It loads the user's task file, then
// takes tasks from the pool's queue in Rust on this thread: a finished task is followed by the
// next one at once, without a round trip through the main thread. When the queue is empty the
// worker parks in Rust and is woken by the next submit.
const { pathToFileURL } = require('url');
const { isNativeError } = require('util').types;
const state = require('../worker_threads/state');
const { native } = require('../binding');
const { makeError } = require('../errors');
const { kReady, kFailed, kDone, kFailedWithProps } = require('./protocol');

const config = state.workerData;
// The task file sees the pool's workerData, as with piscina.
state.workerData = config.workerData;
require('../register').installBuiltins(['worker_threads']);

// Tasks run per wake-up before yielding to this worker's event loop (timers, I/O).
const kTasksPerTurn = 1000;
const meta = new Float64Array(3); // [taken, taskId, hasName], written by native.poolTake
let handle = null;
let inflight = 0;
let pumping = false;
let idleTimer = null;
let exported = null;
let loadError = null;
const tasksByName = new Map();

function noTask(name) {
  const what = name === undefined ? 'a default function' : `a function named "${name}"`;
  return makeError(TypeError, 'ERR_CORRAL_POOL_NO_TASK', `${config.filename} does not export ${what}`);
}

const kDefaultTask = Symbol('default task');

// The function for `name` (or the default export): ESM exports, or CommonJS module.exports
// (seen by import() as the default export).
function taskFunction(name) {
  if (loadError !== null) throw loadError;
  // (The default task under a key of its own: a task named '' is not the default one.)
  const key = name ?? kDefaultTask;
  let fn = tasksByName.get(key);
  if (fn !== undefined) return fn;
  const def = exported.default;
  if (name === undefined) {
    fn = typeof def === 'function' ? def : def?.default;
  } else {
    fn = typeof exported[name] === 'function' ? exported[name] : def?.[name];
  }
  if (typeof fn !== 'function') throw noTask(name);
  tasksByName.set(key, fn);
  return fn;
}

// V8 clones an Error's name only when it is one of these.
const kClonedNames = new Set(['Error', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError', 'URIError']);

// What the structured clone of an error would lose: its own properties (code, errno, ...) and
// a name of its own (AbortError, DataCloneError, ...). Null when nothing.
// Each property on its own: one that cannot be read or cloned (a function, a throwing getter) is
// left out, the others still travel (as Node's worker errors do). An AggregateError's `errors`
// (not enumerable) travel too.
function ownProperties(error) {
  if (error === null || typeof error !== 'object') return null;
  const props = {};
  let any = false;
  const keys = Object.keys(error);
  if (error instanceof AggregateError && !keys.includes('errors')) keys.push('errors');
  for (const key of keys) {
    let value;
    try {
      value = error[key];
      structuredClone(value);
    } catch {
      continue;
    }
    props[key] = value;
    any = true;
  }
  let name;
  try {
    name = error instanceof Error ? error.name : undefined;
  } catch {}
  if (typeof name === 'string' && !kClonedNames.has(name) && !('name' in props)) {
    props.name = name;
    any = true;
  }
  return any ? props : null;
}

function send(id, kind, value) {
  try {
    native.poolComplete(handle, id, kind, value);
    return true;
  } catch {
    return false; // DataCloneError
  }
}

function complete(id, ok, value) {
  inflight--;
  if (ok) {
    try {
      native.poolComplete(handle, id, kDone, value);
      return;
    } catch (error) {
      value = error; // the result cannot be cloned: the task fails with the DataCloneError
    }
  }
  if (value instanceof Error && !isNativeError(value)) {
    // An Error V8 does not clone as one (DOMException: it would arrive as {}): an Error with
    // its name, message and stack.
    const error = new Error(value.message);
    error.stack = value.stack;
    value = Object.assign(error, { name: value.name, ...ownProperties(value) });
  }
  const props = ownProperties(value);
  if (props !== null && send(id, kFailedWithProps, [value, props])) return;
  if (send(id, kFailed, value)) return;
  // A thrown value that cannot be cloned (a function, ...): an Error describing it.
  let message;
  try {
    message = String(value);
  } catch {
    message = 'a task failed with a value that cannot be cloned';
  }
  send(id, kFailed, new Error(message));
}

function settled(id, ok, value) {
  complete(id, ok, value);
  pump();
}

function runTask(id, name, value) {
  inflight++;
  let result;
  try {
    result = taskFunction(name)(value);
  } catch (error) {
    complete(id, false, error);
    return;
  }
  if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
    result.then((v) => settled(id, true, v), (e) => settled(id, false, e));
  } else {
    complete(id, true, result);
  }
}

function armIdleTimer() {
  if (idleTimer !== null || config.idleTimeout === Infinity) return;
  idleTimer = setTimeout(() => {
    idleTimer = null;
    // Rust agrees only while more than minThreads workers stay and nothing is queued.
    if (inflight === 0 && native.poolRetire(handle)) process.exit(0);
  }, config.idleTimeout);
}

function pump() {
  if (pumping || handle === null) return;
  pumping = true;
  try {
    for (let n = 0; inflight < config.concurrency; n++) {
      if (n === kTasksPerTurn) {
        setImmediate(pump);
        break;
      }
      let value;
      try {
        value = native.poolTake(handle, meta);
      } catch (error) {
        // The task could not be read: it fails, the worker goes on.
        inflight++;
        complete(meta[1], false, error);
        continue;
      }
      if (meta[0] === 0) {
        if (inflight === 0) armIdleTimer();
        break;
      }
      if (idleTimer !== null) {
        clearTimeout(idleTimer);
        idleTimer = null;
      }
      runTask(meta[1], meta[2] === 1 ? native.poolTakenName(handle) : undefined, value);
    }
  } finally {
    pumping = false;
  }
}

async function load() {
  try {
    exported = await import(pathToFileURL(config.filename).href);
    // A module may export a promise of its task function (async set-up).
    if (exported.default !== null && typeof exported.default?.then === 'function') {
      exported = { ...exported, default: await exported.default };
    }
  } catch (error) {
    // Every task this worker takes fails with the load error (rather than a worker that dies
    // and is restarted in a loop).
    loadError = error;
  }
}

load().then(() => {
  handle = native.poolAttach(config.poolId, pump);
  if (handle === undefined) process.exit(0); // the pool is gone
  state.parentPort.postMessage(kReady);
  pump();
});
