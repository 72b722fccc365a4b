'use strict';
// Requires one of corral's module trees (lib/<name>) with corral's compile in place: its files
// deserialize the process's code caches, the build's at first (worker_threads/code-cache.js).
// Every entry point loads its tree through here.
const { whileLoading } = require('./worker_threads/code-cache');

const trees = {
  worker_threads: () => require('./worker_threads'),
  cluster: () => require('./cluster'),
  child_process: () => require('./child_process'),
  shared: () => require('./shared'),
  pool: () => require('./pool'),
  supervisor: () => require('./supervisor'),
};

module.exports = function load(name) {
  return whileLoading(trees[name]);
};
