'use strict';
// Loads the native addon built for the running Node major (build/corral-node<major>.node).
// The embedder API is C++ and version-tied: a build for another major must never be loaded.
const fs = require('fs');
const path = require('path');

// (Joined by hand: __dirname is absolute and normalised, and every worker boot runs this.)
const buildDir = `${path.dirname(__dirname)}${path.sep}build`;
const major = Number(process.versions.node.split('.')[0]);

function load() {
  const file = `${buildDir}${path.sep}corral-node${major}.node`;
  // Opened directly (not through require's resolution of the path, nor a stat beforehand): every
  // worker environment and forked child loads it at start-up. A missing build is told apart
  // from a failing one afterwards.
  const addon = { exports: {} };
  try {
    process.dlopen(addon, file);
  } catch (error) {
    if (fs.existsSync(file)) throw error;
    addon.exports = null;
  }
  if (addon.exports === null) {
    let builds = [];
    try {
      builds = fs.readdirSync(buildDir)
        .filter((f) => /^corral-node\d+\.json$/.test(f))
        .map((f) => JSON.parse(fs.readFileSync(path.join(buildDir, f), 'utf8')).node);
    } catch {}
    const found = builds.length ? `it was built for Node ${builds.map((v) => `v${v}`).join(', ')}` :
      'no build was found';
    const err = new Error(
      `corral: the native addon is not built for this Node (${process.version}): ${found}. ` +
      'Rebuild it with this Node: `npm rebuild corral` (or `node scripts/build.js`).');
    err.code = 'ERR_CORRAL_NODE_VERSION';
    throw err;
  }
  const { exports } = addon;
  if (exports.NODE_MAJOR === undefined) {
    // Exports missing: Node-API could not call into this environment while registering them,
    // which happens only once it is being stopped (a worker or warm thread torn down while it
    // was still booting; Node stops Node-API calls before it terminates the thread's JS).
    const err = new Error('corral: the environment is stopping');
    err.code = 'ERR_CORRAL_ENV_STOPPING';
    throw err;
  }
  if (exports.NODE_MAJOR !== major) {
    const err = new Error(`corral: ${file} was built for Node ${exports.NODE_MAJOR}, not ${process.version}`);
    err.code = 'ERR_CORRAL_NODE_VERSION';
    throw err;
  }
  return exports;
}

module.exports = load();
