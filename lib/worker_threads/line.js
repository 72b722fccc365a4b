'use strict';
// What this Node line's own worker_threads has, read before corral/register fills the built-in
// with corral's values: corral exports the same names, and Worker has the same methods.
// Captured once, as Node made them: under the register the built-in's values become corral's.
//
// In a corral worker, Node's own worker_threads is not loaded at boot: it brings all of `stream`
// (about 0.4 MiB of heap and 2 ms per worker on Node 26, and a compile from source per worker
// under flags that make V8 refuse Node's code cache). The facts corral's module needs while it
// loads come from the thread that started the worker (workerFacts, through the bootstrap), and
// Node's module is loaded only when one of its values is used.
const { major } = require('../node-line');

let workerFacts = null;      // { keys, workerMethods, stringTags }: set by boot.js in a worker
let internalRequire = null;  // Node's, in a corral worker
let builtin = null;

// The built-in's own values (see lib/builtins.js pristine).
function readBuiltin() {
  if (workerFacts === null) return require('../builtins').pristine('worker_threads');
  // The built-in's entry holds corral's module here (presetBuiltin): Node's own module runs in
  // a module record of its own, its internals shared with the rest of the environment.
  let own = null;
  const values = {};
  const nodeOwn = () => {
    if (own === null) {
      const { BuiltinModule } = internalRequire('internal/bootstrap/realm');
      const record = new BuiltinModule('worker_threads');
      record.compileForInternalLoader();
      own = record.exports;
    }
    return own;
  };
  // Values with a cheaper source than Node's module, where the line has them.
  const direct = {
    locks: () => internalRequire('internal/locks').locks,
    markAsUntransferable: () => internalRequire('internal/buffer').markAsUntransferable,
    isMarkedAsUntransferable: () => internalRequire('internal/buffer').isMarkedAsUntransferable,
  };
  for (const key of workerFacts.keys) {
    Object.defineProperty(values, key, {
      configurable: true,
      enumerable: true,
      get() {
        const value = direct[key] ? direct[key]() : nodeOwn()[key];
        Object.defineProperty(values, key, { value, configurable: true, enumerable: true, writable: true });
        return value;
      },
    });
  }
  return values;
}

function getBuiltin() {
  return (builtin ??= readBuiltin());
}

// The methods of Node's Worker that not every line has, on each line's newest release: what a
// Worker that another preload replaced before corral loaded (a wrapper function, the conformance
// suite's trap) is taken to have had.
const lineWorkerMethods = {
  20: [],
  22: ['threadName', 'getHeapStatistics', 'cpuUsage', 'startCpuProfile', 'asyncDispose'],
  24: ['threadName', 'getHeapStatistics', 'cpuUsage', 'startCpuProfile', 'startHeapProfile', 'asyncDispose'],
};

// Worker.prototype's keys on this line ('asyncDispose' for Symbol.asyncDispose), up its chain
// (a subclass put in Node's place keeps Node's methods on its parent's prototype).
function readWorkerMethods() {
  if (workerFacts !== null) return workerFacts.workerMethods;
  const { Worker } = getBuiltin();
  if (!Worker || Worker[Symbol.for('corral.worker')]) return [];
  const keys = new Set();
  const { EventEmitter } = require('events');
  for (let proto = Worker.prototype; proto && proto !== EventEmitter.prototype && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === Symbol.asyncDispose) keys.add('asyncDispose');
      else if (typeof key === 'string') keys.add(key);
    }
  }
  if (!keys.has('terminate')) return lineWorkerMethods[Math.min(major, 24)] ?? [];
  return [...keys];
}

// The classes whose prototypes carry their own Symbol.toStringTag on this line (Node 26.x,
// since a patch release: `[object MessagePort]` where earlier lines say `[object EventTarget]`).
function readStringTags() {
  if (workerFacts !== null) return workerFacts.stringTags;
  const values = getBuiltin();
  return ['MessagePort', 'MessageChannel', 'BroadcastChannel'].filter((name) =>
    Object.getOwnPropertyDescriptor(values[name]?.prototype ?? {}, Symbol.toStringTag) !== undefined);
}

let workerMethods = null;
let stringTags = null;

// Gives `Class.prototype` its own Symbol.toStringTag where this line's built-in class has one.
function matchStringTag(name, Class) {
  stringTags ??= new Set(readStringTags());
  if (!stringTags.has(name)) return;
  Object.defineProperty(Class.prototype, Symbol.toStringTag, {
    value: name, writable: false, enumerable: false, configurable: true,
  });
}

// What a worker started from this thread needs to know (JSON, embedded in its bootstrap).
function factsForWorkers() {
  return {
    keys: Object.keys(getBuiltin()),
    workerMethods: [...exportsObject.builtinWorkerMethods],
    stringTags: [...(stringTags ??= new Set(readStringTags()))],
  };
}

// boot.js, first thing in a corral worker.
function useWorkerFacts(facts, require) {
  workerFacts = facts;
  internalRequire = require;
}

// boot.js: the built-in worker_threads of this environment is an exports object of its own,
// which the register fills with corral's values as it fills Node's elsewhere, without Node's
// module being loaded (process.getBuiltinModule, require and import all find it).
function presetBuiltin() {
  const { BuiltinModule } = internalRequire('internal/bootstrap/realm');
  const entry = BuiltinModule.map.get('worker_threads');
  if (entry === undefined || entry.loaded || entry.loading) return;
  entry.exports = {};
  entry.exportKeys = [...workerFacts.keys];
  entry.loaded = true;
  process.moduleLoadList.push('NativeModule worker_threads');
}

// Whether this environment is a corral worker's (told its line's facts by its parent).
const inCorralWorker = () => workerFacts !== null;

// Node's own MessagePort class; undefined in a worker where none of Node's ports can exist yet
// (Node's internal/worker/io not loaded): checking for them loads nothing there.
function nodeMessagePort() {
  if (workerFacts !== null && !process.moduleLoadList.includes('NativeModule internal/worker/io')) return undefined;
  const port = getBuiltin().MessagePort;
  return typeof port === 'function' ? port : undefined;
}

// worker.startCpuProfile's argument: a profile name on Node 22, nothing on 24, sampling options
// on 26.
const cpuProfileArgument = major <= 22 ? 'name' : major >= 26 ? 'options' : 'none';
// worker.startHeapProfile's sampling options: from Node 26 (checked, and used).
const heapProfileOptions = major >= 26;

// Exports of Node's worker_threads that corral cannot serve (see the README): none.
const unserved = [];

const exportsObject = {
  get builtin() { return getBuiltin(); },
  get builtinWorkerMethods() { return (workerMethods ??= new Set(readWorkerMethods())); },
  cpuProfileArgument,
  heapProfileOptions,
  unserved,
  matchStringTag,
  factsForWorkers,
  useWorkerFacts,
  presetBuiltin,
  inCorralWorker,
  nodeMessagePort,
};
module.exports = exportsObject;
