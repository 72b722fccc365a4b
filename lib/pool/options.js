'use strict';
// Pool options, validated with Node's error classes and codes; defaults as a piscina user
// expects them (threads from the core count, an unbounded queue, one task per worker).
const os = require('os');
const path = require('path');
const { fileURLToPath } = require('url');
const { invalidArgType, invalidArgValue, outOfRange } = require('../errors');

const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const defaults = {
  minThreads: Math.max(1, Math.floor(cores / 2)),
  maxThreads: Math.max(1, Math.floor(cores * 1.5)),
  // An idle worker above minThreads leaves after a second: an immediate exit would stop and
  // restart threads between bursts of tasks.
  idleTimeout: 1000,
};

function count(options, key, min) {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgType(`options.${key}`, 'number', value);
  if (!Number.isInteger(value) || value < min) throw outOfRange(`options.${key}`, `an integer >= ${min}`, value);
  return value;
}

function resolveFilename(filename) {
  if (filename instanceof URL) filename = filename.href;
  if (typeof filename !== 'string') throw invalidArgType('options.filename', ['string', 'URL'], filename);
  if (filename.startsWith('file:')) return fileURLToPath(filename);
  if (filename.length === 0) throw invalidArgValue('options.filename', filename, 'must not be empty');
  return path.resolve(filename);
}

function readPoolOptions(options) {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'object', options);
  const filename = resolveFilename(options.filename);

  let minThreads = count(options, 'minThreads', 0);
  let maxThreads = count(options, 'maxThreads', 1);
  if (minThreads !== undefined && maxThreads !== undefined && minThreads > maxThreads) {
    throw outOfRange('options.minThreads', `<= options.maxThreads (${maxThreads})`, minThreads);
  }
  // One bound given: the other default yields to it.
  maxThreads ??= Math.max(defaults.maxThreads, minThreads ?? 0);
  minThreads ??= Math.min(defaults.minThreads, maxThreads);

  const { idleTimeout = defaults.idleTimeout } = options;
  if (typeof idleTimeout !== 'number') throw invalidArgType('options.idleTimeout', 'number', idleTimeout);
  if (!(idleTimeout >= 0)) throw outOfRange('options.idleTimeout', '>= 0', idleTimeout);

  let { maxQueue = Infinity } = options;
  if (maxQueue === 'auto') maxQueue = maxThreads ** 2;
  else if (typeof maxQueue !== 'number') throw invalidArgType('options.maxQueue', ['number', "'auto'"], maxQueue);
  else if (!(maxQueue >= 0) || (maxQueue !== Infinity && !Number.isInteger(maxQueue))) {
    throw outOfRange('options.maxQueue', 'an integer >= 0, Infinity or "auto"', maxQueue);
  }

  const concurrentTasksPerWorker = count(options, 'concurrentTasksPerWorker', 1) ?? 1;

  for (const key of ['argv', 'execArgv']) {
    if (options[key] !== undefined && !Array.isArray(options[key])) {
      throw invalidArgType(`options.${key}`, ['Array'], options[key]);
    }
  }
  if (options.name !== undefined && typeof options.name !== 'string') {
    throw invalidArgType('options.name', 'string', options.name);
  }

  return {
    filename, minThreads, maxThreads, idleTimeout, maxQueue, concurrentTasksPerWorker,
    // Passed to every worker as they are (the Worker constructor validates them like Node).
    worker: {
      resourceLimits: options.resourceLimits, env: options.env, argv: options.argv,
      execArgv: options.execArgv, name: options.name,
    },
    workerData: options.workerData,
  };
}

module.exports = { readPoolOptions, defaults };
