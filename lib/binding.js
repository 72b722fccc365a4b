'use strict';
// Loads the native addon built for the running Node major (build/corral-node<major>.node).
// The embedder API is C++ and version-tied: a build for another major must never be loaded.
const fs = require('fs');
const path = require('path');

const buildDir = path.join(__dirname, '..', 'build');
const major = Number(process.versions.node.split('.')[0]);

function load() {
  const file = path.join(buildDir, `corral-node${major}.node`);
  if (!fs.existsSync(file)) {
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
  const addon = require(file);
  if (addon.NODE_MAJOR === undefined) {
    // Exports missing: Node-API could not call into this environment while registering them,
    // which happens only once it is being stopped (a worker or warm thread torn down while it
    // was still booting; Node stops Node-API calls before it terminates the thread's JS).
    const err = new Error('corral: the environment is stopping');
    err.code = 'ERR_CORRAL_ENV_STOPPING';
    throw err;
  }
  if (addon.NODE_MAJOR !== major) {
    const err = new Error(`corral: ${file} was built for Node ${addon.NODE_MAJOR}, not ${process.version}`);
    err.code = 'ERR_CORRAL_NODE_VERSION';
    throw err;
  }
  return addon;
}

module.exports = load();
