'use strict';
// corral: Node's worker_threads, cluster and child_process.fork on threads and processes that
// Rust owns, plus shared memory across them. Each module is also reachable as corral/<name>.
const load = require('./lib/load');
const workerThreads = load('worker_threads');

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
  cluster: () => load('cluster'),
  childProcess: () => load('child_process'),
  shared: () => load('shared'),
  pool: () => load('pool'),
};
for (const [name, load] of Object.entries(lazy)) {
  Object.defineProperty(module.exports, name, { enumerable: true, configurable: true, get: load });
}
Object.defineProperty(module.exports, 'Pool', {
  enumerable: true, configurable: true, get: () => load('pool').Pool,
});
