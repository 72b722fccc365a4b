'use strict';
// corral: Node's worker_threads, cluster and child_process.fork on threads and processes that
// Rust owns, plus shared memory across them. Each module is also reachable as corral/<name>.
const workerThreads = require('./lib/worker_threads');

module.exports = {
  workerThreads,
  Worker: workerThreads.Worker,
  MessageChannel: workerThreads.MessageChannel,
  MessagePort: workerThreads.MessagePort,
  BroadcastChannel: workerThreads.BroadcastChannel,
};

// Loaded on first use: cluster decides primary/worker at load, shared joins the program's
// shared-memory directory.
const lazy = {
  cluster: () => require('./lib/cluster'),
  childProcess: () => require('./lib/child_process'),
  shared: () => require('./lib/shared'),
  pool: () => require('./lib/pool'),
};
for (const [name, load] of Object.entries(lazy)) {
  Object.defineProperty(module.exports, name, { enumerable: true, configurable: true, get: load });
}
Object.defineProperty(module.exports, 'Pool', {
  enumerable: true, configurable: true, get: () => require('./lib/pool').Pool,
});
