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
  // This thread's own Node options (exec-options.js); null: the process's.
  execOptions: null,
  // The --cpu-prof / --heap-prof files this thread's own options ask for (exec-options.js).
  fileProfiles: null,
  // A worker's own `stdin: true` etc. are read from here by the bootstrap.
};
