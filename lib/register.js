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

function installBuiltins(names) {
  // Seen by corral/cluster: the primary then lives on Node's own cluster object.
  globalThis[Symbol.for('corral.register')] = true;
  syncBuiltins(names);
}

module.exports = { installBuiltins, replacements };
