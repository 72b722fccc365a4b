'use strict';
// What this Node line's own worker_threads has, read before corral/register fills the built-in
// with corral's values: corral exports the same names, and Worker has the same methods.
// Captured once, as Node made them: under the register the built-in's values become corral's.
const builtin = require('../builtins').pristine('worker_threads');
const builtinWorkerMethods = new Set(
  builtin.Worker && !builtin.Worker[Symbol.for('corral.worker')] ?
    Reflect.ownKeys(builtin.Worker.prototype).map((key) => key === Symbol.asyncDispose ? 'asyncDispose' : key) :
    []);

// The classes whose prototypes carry their own Symbol.toStringTag on this line (Node 26.x,
// since a patch release: `[object MessagePort]` where earlier lines say `[object EventTarget]`).
const ownStringTags = new Set(['MessagePort', 'MessageChannel', 'BroadcastChannel'].filter((name) =>
  Object.getOwnPropertyDescriptor(builtin[name]?.prototype ?? {}, Symbol.toStringTag) !== undefined));

// Gives `Class.prototype` its own Symbol.toStringTag where this line's built-in class has one.
function matchStringTag(name, Class) {
  if (!ownStringTags.has(name)) return;
  Object.defineProperty(Class.prototype, Symbol.toStringTag, {
    value: name, writable: false, enumerable: false, configurable: true,
  });
}

// worker.startCpuProfile's argument: a profile name on Node 22, nothing on 24, sampling options
// on 26.
const { major } = require('../node-line');
const cpuProfileArgument = major <= 22 ? 'name' : major >= 26 ? 'options' : 'none';

// Exports of Node's worker_threads that corral cannot serve (see the README): none.
const unserved = [];

module.exports = { builtin, builtinWorkerMethods, cpuProfileArgument, unserved, matchStringTag };
