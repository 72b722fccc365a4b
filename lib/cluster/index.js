'use strict';
// corral/cluster. In a worker (started by corral's primary, CORRAL_CLUSTER_WORKER set) this is
// the worker side, installed on Node's own `cluster` object, which net and dgram consult when
// they listen. In the primary it is a fresh object, or Node's own one under corral/register
// (so `import cluster from 'node:cluster'` sees the same object).
const EventEmitter = require('events');
const builtins = require('../builtins');

let cluster;

function useBuiltinObject() {
  return process.env.CORRAL_CLUSTER_WORKER !== undefined || globalThis[Symbol.for('corral.register')] === true;
}

if (process.env.CORRAL_CLUSTER_WORKER !== undefined) {
  cluster = require('./child').setup(builtins.get('cluster'));
  cluster._setupWorker();
  // Not inherited by processes this worker starts.
  delete process.env.CORRAL_CLUSTER_WORKER;
} else {
  cluster = require('./primary').setup(useBuiltinObject() ? builtins.get('cluster') : new EventEmitter());
}

module.exports = cluster;
builtins.loaded('cluster');
