'use strict';
// `node -r corral/register app.js` (or `--import corral/register`): the program's
// worker_threads — CJS require, ESM import, with or without the `node:` prefix — is corral's.
const Module = require('module');

// Built-in name -> corral module.
const replacements = {
  worker_threads: () => require('./worker_threads'),
  child_process: () => require('./child_process'),
  cluster: () => require('./cluster'),
};

let loadPatched = false;

function replacementFor(request) {
  if (typeof request !== 'string') return undefined;
  const name = request.startsWith('node:') ? request.slice(5) : request;
  return Object.hasOwn(replacements, name) ? replacements[name] : undefined;
}

function patchLoad() {
  if (loadPatched) return;
  loadPatched = true;
  const load = Module._load;
  Module._load = function corralLoad(request, parent, isMain) {
    const replacement = replacementFor(request);
    if (replacement !== undefined && !isMain) return replacement();
    return load.apply(this, arguments);
  };
  // corral's own modules reach Node's built-ins through this (lib/builtins.js).
  Module._load.corralOriginal = load;
}

// ESM imports of a built-in read its exports object: give it corral's values, then let the
// ESM facades pick them up. Repeated on every call, so values set later (a worker's
// parentPort) are seen too.
function syncBuiltins() {
  for (const [name, get] of Object.entries(replacements)) {
    // Node's own module object (a plain require() would be answered by corralLoad).
    const builtin = require('./builtins').get(name);
    const ours = get();
    for (const key of Object.keys(ours)) {
      try {
        builtin[key] = ours[key];
      } catch {}
    }
  }
  Module.syncBuiltinESMExports();
}

function installBuiltins() {
  // Seen by corral/cluster: the primary then lives on Node's own cluster object.
  globalThis[Symbol.for('corral.register')] = true;
  patchLoad();
  syncBuiltins();
}

module.exports = { installBuiltins, replacements };
