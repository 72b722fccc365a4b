#!/usr/bin/env node
'use strict';
// Writes build/corral-node<major>.codecache: the V8 code caches of corral's modules as one
// worker's boot leaves them (lib/worker_threads/code-cache.js), so that a process's first
// worker does not compile them from source, then those of the modules a worker's boot does not
// load, for a program's first require of them: each tree loaded here (with what its load
// compiled), the files none loads (cluster's worker side, ...) compiled alone. Run by
// scripts/build.js with the Node it built for; V8 takes the caches only in a process of that
// Node version and flags (others compile).
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const lib = path.join(root, 'lib') + path.sep;
const major = process.versions.node.split('.')[0];
const dest = path.join(root, 'build', `corral-node${major}.codecache`);

// Made from source, not from the last build's file.
fs.rmSync(dest, { force: true });

// Loaded without corral's compile: its caches are the worker's boot's.
const { Worker } = require('../lib/worker_threads');
const { native } = require('../lib/binding');
const codeCache = require('../lib/worker_threads/code-cache');

// Every .js file under lib/ (relative paths).
function libFiles(dir = lib) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return libFiles(full);
    return entry.name.endsWith('.js') ? [full] : [];
  });
}

// The caches of what the worker's boot left out.
function addMainThreadCaches() {
  codeCache.whileLoading(() => {
    for (const tree of ['cluster', 'child_process', 'shared', 'pool', 'supervisor']) require(`../lib/${tree}`);
  }, true);
  const have = new Set(native.codeCacheEntries().map(([filename]) => filename));
  for (const filename of libFiles()) {
    if (have.has(filename)) continue;
    const source = fs.readFileSync(filename, 'utf8');
    if (source.includes('import(')) continue;  // compiled Node's way (code-cache.js)
    const [wrapper, , sourceHash] = native.compileModule(source, filename);
    native.keepModuleCache(filename, wrapper, sourceHash);
  }
}

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

const worker = new Worker('require("worker_threads").parentPort.postMessage("up")', { eval: true });
worker.once('error', (error) => {
  console.error(`corral: could not make the code cache: ${error.message}`);
  process.exitCode = 1;
});
worker.once('message', async () => {
  await worker.terminate();
  addMainThreadCaches();
  const entries = native.codeCacheEntries().filter(([filename]) => filename.startsWith(lib));
  // (The lib/ it was made for: a cache carries its scripts' names, so a moved install must not
  // use it, or stack frames would name the old place.)
  const libName = Buffer.from(lib);
  const parts = [Buffer.from('CORRALCC'), u32(2), u32(libName.length), libName, u32(entries.length)];
  for (const [filename, sourceHash, bytes] of entries) {
    const name = Buffer.from(filename.slice(lib.length).split(path.sep).join('/'));
    parts.push(u32(name.length), name, u32(sourceHash), u32(bytes.length), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }
  fs.writeFileSync(`${dest}.tmp`, Buffer.concat(parts));
  fs.renameSync(`${dest}.tmp`, dest);
});
