'use strict';
// Per-thread module state of corral/worker_threads (each environment loads its own copy).
module.exports = {
  isMainThread: true,
  parentPort: null,
  workerData: null,
  threadId: 0,
  threadName: '',
  resourceLimits: {},
  environmentData: new Map(),
  // A worker's own `stdin: true` etc. are read from here by the bootstrap.
};
