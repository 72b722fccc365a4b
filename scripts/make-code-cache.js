#!/usr/bin/env node
'use strict';
// Writes build/corral-node<major>.codecache: the V8 code caches of corral's modules as one
// worker's boot leaves them (lib/worker_threads/code-cache.js), so that a process's first
// worker does not compile them from source. Run by scripts/build.js with the Node it built for;
// V8 takes the caches only in a process of that Node version and flags (others compile).
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const lib = path.join(root, 'lib') + path.sep;
const major = process.versions.node.split('.')[0];
const dest = path.join(root, 'build', `corral-node${major}.codecache`);

// Made from source, not from the last build's file.
fs.rmSync(dest, { force: true });

const { Worker } = require('../worker_threads');
const { native } = require('../lib/binding');

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
  const entries = native.codeCacheEntries().filter(([filename]) => filename.startsWith(lib));
  const parts = [Buffer.from('CORRALCC'), u32(1), u32(entries.length)];
  for (const [filename, sourceHash, bytes] of entries) {
    const name = Buffer.from(filename.slice(lib.length).split(path.sep).join('/'));
    parts.push(u32(name.length), name, u32(sourceHash), u32(bytes.length), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }
  fs.writeFileSync(`${dest}.tmp`, Buffer.concat(parts));
  fs.renameSync(`${dest}.tmp`, dest);
});
