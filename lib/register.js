'use strict';
// `node -r corral/register app.js` (or `--import corral/register`): the program's
// worker_threads, cluster and child_process — CJS require, ESM import, with or without the
// `node:` prefix — are corral's.
const Module = require('module');

// Built-in name -> corral module.
const replacements = {
  worker_threads: () => require('./worker_threads'),
  child_process: () => require('./child_process'),
  cluster: () => require('./cluster'),
};

// The built-in's own exports object gets corral's values, so CJS `require('worker_threads')`
// and ESM imports (after syncBuiltinESMExports) both see corral, with no wrapper in the
// require path. Repeated on every call, so values set later (a worker's parentPort) are seen.
// corral itself never calls into the built-in.
function syncBuiltins(names = Object.keys(replacements)) {
  for (const name of names) {
    const builtin = require('./builtins').get(name);
    const ours = replacements[name]();
    for (const key of Object.keys(ours)) {
      try {
        builtin[key] = ours[key];
      } catch {}
    }
  }
  Module.syncBuiltinESMExports();
}

// The keys of a built-in that corral's module gives its own values.
const replacedKeys = {
  // Node's cluster object becomes corral's primary; EventEmitter state (`_events`, ...) stays.
  cluster: (builtin) => [...Object.keys(builtin).filter((k) => !k.startsWith('_')), 'SCHED_REUSEPORT'],
  child_process: () => ['fork'],
};

// Makes `name` corral's on first use: its replaced keys become accessors that load corral's
// module, put the built-in's own properties back and sync. A worker that never touches
// cluster or child_process then pays neither their load time nor their memory (about 1.7 MiB
// and 5 ms per worker). ESM namespaces read the accessors when first imported, so they see
// corral's values too.
const pending = new Set();  // built-ins whose accessors are in place

function installLazily(name) {
  if (pending.has(name)) return;
  pending.add(name);
  const builtin = require('./builtins').get(name);
  const keys = replacedKeys[name](builtin);
  const own = new Map(keys.map((key) => [key, Object.getOwnPropertyDescriptor(builtin, key)]));
  let installed = false;
  const install = () => {
    if (installed) return;
    installed = true;
    pending.delete(name);
    for (const [key, descriptor] of own) {
      if (descriptor) Object.defineProperty(builtin, key, descriptor);
      else delete builtin[key];
    }
    syncBuiltins([name]);
  };
  for (const key of keys) {
    Object.defineProperty(builtin, key, {
      configurable: true,
      enumerable: true,
      get() { install(); return builtin[key]; },
      set(value) { install(); builtin[key] = value; },
    });
  }
}

// `lazy`: built-ins made corral's on first use instead of now (see installLazily).
function installBuiltins(names, lazy = []) {
  // Seen by corral/cluster: the primary then lives on Node's own cluster object.
  globalThis[Symbol.for('corral.register')] = true;
  for (const name of lazy) installLazily(name);
  syncBuiltins(names);
}

// What `-r corral/register` / `--import corral/register` runs. Worker threads inherit the
// preload with execArgv; there it does what the worker's boot does (cluster and child_process
// lazily), so idle workers stay small.
function installPreload() {
  if (require('./binding').native.currentThreadId() === 0) installBuiltins();
  else installBuiltins(workerEager, workerLazy);
}
const workerEager = ['worker_threads'];
const workerLazy = ['cluster', 'child_process'];

module.exports = { installBuiltins, installPreload, workerEager, workerLazy, replacements, replacedKeys };
