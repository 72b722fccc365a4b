#!/usr/bin/env node
'use strict';
// Builds the native addon from source for the Node running this script (npm install runs it):
// cargo build --release against this Node's headers, then build/corral-node<major>.node.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const major = process.versions.node.split('.')[0];
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target', `node${major}`);
const env = { ...process.env, CORRAL_NODE: process.execPath, CARGO_TARGET_DIR: targetDir };

const cargo = spawnSync('cargo', ['build', '--release', '--lib'], { cwd: root, env, stdio: 'inherit' });
if (cargo.error) {
  console.error(`corral: could not run cargo (${cargo.error.message}). Install Rust (https://rustup.rs) and retry.`);
  process.exit(1);
}
if (cargo.status !== 0) process.exit(cargo.status ?? 1);

const out = path.join(root, 'build');
fs.mkdirSync(out, { recursive: true });
const dest = path.join(out, `corral-node${major}.node`);
// Copy to a temp name and rename: a running process may have the old file mapped.
fs.copyFileSync(path.join(targetDir, 'release', 'libcorral.so'), `${dest}.tmp`);
fs.renameSync(`${dest}.tmp`, dest);
// What this line's own workers refuse in execArgv (see worker-exec-argv.js).
const probe = spawnSync(process.execPath, [path.join(__dirname, 'worker-exec-argv.js')], { encoding: 'utf8' });
let workerExecArgv = null;
try {
  workerExecArgv = JSON.parse(probe.stdout);
} catch {
  console.error('corral: could not read the worker execArgv rules of this Node; workers will accept its environment flags');
}
fs.writeFileSync(path.join(out, `corral-node${major}.json`),
  JSON.stringify({ node: process.versions.node, modules: process.versions.modules, workerExecArgv }) + '\n');
// The code caches a process's first worker starts from (scripts/make-code-cache.js): without
// them workers still run, compiling corral's modules as they boot.
const cache = spawnSync(process.execPath, [path.join(__dirname, 'make-code-cache.js')], { stdio: 'inherit' });
if (cache.status !== 0) console.error('corral: no code cache for the first worker (it compiles corral\'s modules itself)');
console.log(`corral: built ${path.relative(root, dest)} for Node ${process.version}`);
