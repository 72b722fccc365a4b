'use strict';
// corral: Node's worker_threads (and, as they land, cluster and child_process.fork) on threads
// and processes that Rust owns. Each module is also reachable as corral/<name>.
const workerThreads = require('./lib/worker_threads');

module.exports = {
  workerThreads,
  Worker: workerThreads.Worker,
  MessageChannel: workerThreads.MessageChannel,
  MessagePort: workerThreads.MessagePort,
};
// corral/shared, loaded on first use (it joins the program's shared-memory directory).
Object.defineProperty(module.exports, 'shared', {
  enumerable: true, configurable: true, get: () => require('./lib/shared'),
});
