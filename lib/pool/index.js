'use strict';
// corral/pool: a task pool whose queue and scheduler live in Rust (src/pool). The main thread
// submits tasks and settles their promises when results arrive (one wake-up per batch); the
// workers take tasks on their own threads. This facade validates, keeps the promises, and
// starts, replaces and retires the workers (corral worker threads running ./runner.js).
const EventEmitter = require('events');
const path = require('path');
const { native } = require('../binding');
const { invalidArgType } = require('../errors');
const { Worker } = require('../worker_threads/worker');
const { readPoolOptions } = require('./options');
const { kReady, kFailed, kDone, kFailedWithProps } = require('./protocol');
const errors = require('./errors');

const runnerFile = path.join(__dirname, 'runner.js');

// native.poolSubmit's answers (see corral_pool_submit).
const kQueueFull = -1;
const kClosed = -2;

function summary(stats, offset) {
  const ms = (ns) => ns / 1e6;
  return {
    count: stats[offset],
    mean: ms(stats[offset + 1]),
    min: ms(stats[offset + 2]),
    max: ms(stats[offset + 3]),
    p50: ms(stats[offset + 4]),
    p90: ms(stats[offset + 5]),
    p99: ms(stats[offset + 6]),
  };
}

function validateRunOptions(options) {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'object', options);
  const { transferList, signal, name } = options;
  if (name !== undefined && typeof name !== 'string') throw invalidArgType('options.name', 'string', name);
  if (transferList !== undefined && !Array.isArray(transferList)) {
    throw invalidArgType('options.transferList', ['Array'], transferList);
  }
  if (signal != null && (typeof signal !== 'object' || typeof signal.addEventListener !== 'function' ||
      !('aborted' in signal))) {
    throw invalidArgType('options.signal', ['AbortSignal'], signal);
  }
  return { transferList, signal: signal ?? null, name };
}

// What the clone of a task's error lost (lib/pool/runner.js), put back where it differs (a
// DOMException arrives whole, its name a getter).
function putBack(error, props) {
  for (const [key, value] of Object.entries(props)) {
    if (error[key] === value) continue;
    try {
      error[key] = value;
    } catch {}
  }
}

class Pool extends EventEmitter {
  #options;
  #handle;
  #id;
  #tasks = new Map(); // taskId -> { resolve, reject, signal, onAbort }
  #nextTaskId = 1;
  #workers = new Map(); // threadId -> Worker
  #starting = 0; // workers started but not yet taking tasks
  #waiting = false; // a task had to queue since the last 'drain'
  #closing = null; // { promise, resolve } once close() or destroy() is called
  #destroyed = false;
  #finalStats = new Array(18).fill(0); // the statistics once the native pool is gone

  constructor(options) {
    super();
    const opts = readPoolOptions(options);
    this.#options = opts;
    [this.#handle, this.#id] = native.poolCreate(opts.concurrentTasksPerWorker, opts.maxQueue,
      opts.minThreads, (flat) => this.#onResults(flat));
    try {
      for (let i = 0; i < opts.minThreads; i++) this.#startWorker(true);
    } catch (error) {
      this.destroy();
      throw error;
    }
  }

  get options() {
    const { worker, ...rest } = this.#options;
    return { ...rest, ...worker };
  }

  get threads() {
    return [...this.#workers.values()];
  }

  get queueSize() {
    return this.#handle === null ? 0 : native.poolQueued(this.#handle);
  }

  get completed() {
    return this.#stats()[0];
  }

  // The share of the pool's capacity (maxThreads x time since it was created) spent running
  // tasks.
  get utilization() {
    const stats = this.#stats();
    return stats[3] > 0 ? stats[2] / (stats[3] * this.#options.maxThreads) : 0;
  }

  get runTime() {
    return summary(this.#stats(), 4);
  }

  get waitTime() {
    return summary(this.#stats(), 11);
  }

  #stats() {
    if (this.#handle === null) return this.#finalStats;
    return native.poolStats(this.#handle);
  }

  run(task, options = {}) {
    let opts;
    try {
      opts = validateRunOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing !== null) {
      return Promise.reject(this.#destroyed ? errors.destroyed() : errors.closed());
    }
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(errors.aborted(signal.reason));
    const id = this.#nextTaskId++;
    let status;
    try {
      // A task with a signal runs alone on its worker: aborting it terminates that worker.
      status = native.poolSubmit(this.#handle, id, task, opts.transferList, opts.name, signal !== null,
        Math.min(this.#options.maxThreads, 0xffffffff));
    } catch (error) {
      return Promise.reject(error); // DataCloneError: nothing was queued or transferred
    }
    if (status === kQueueFull) return Promise.reject(errors.queueFull(this.#options.maxQueue));
    if (status === kClosed) return Promise.reject(errors.closed());
    return new Promise((resolve, reject) => {
      const record = { resolve, reject, signal, onAbort: null };
      if (signal !== null) {
        record.onAbort = () => this.#abort(id, signal.reason);
        signal.addEventListener('abort', record.onAbort, { once: true });
      }
      this.#tasks.set(id, record);
      // Pending tasks keep the process alive; an idle pool does not.
      if (this.#tasks.size === 1) native.poolRef(this.#handle, true);
      if (status > 0) {
        this.#waiting = true;
        this.#grow(status);
      }
    });
  }

  // `queued` tasks wait with no idle worker: start one more while below maxThreads and the
  // workers already starting will not take them all.
  #grow(queued) {
    const capacity = this.#starting * this.#options.concurrentTasksPerWorker;
    if (this.#workers.size < this.#options.maxThreads && queued > capacity) this.#startWorker();
  }

  #settle(id, kind, value) {
    const record = this.#tasks.get(id);
    if (record === undefined) return; // aborted, or its worker was already given up
    this.#tasks.delete(id);
    if (record.onAbort !== null) record.signal.removeEventListener('abort', record.onAbort);
    if (kind === kDone) {
      record.resolve(value);
    } else if (kind === kFailedWithProps) {
      let [error, props] = value;
      // An AggregateError arrives as an Error (what V8 clones): made again, with its errors.
      if (props.name === 'AggregateError' && Array.isArray(props.errors) && error instanceof Error) {
        const aggregate = new AggregateError(props.errors, error.message);
        Object.defineProperty(aggregate, 'stack', { value: error.stack, writable: true, configurable: true });
        if ('cause' in error) Object.defineProperty(aggregate, 'cause', { value: error.cause, writable: true, configurable: true });
        const { name: _, errors: __, ...rest } = props;
        error = aggregate;
        props = rest;
      }
      if (error !== null && typeof error === 'object') putBack(error, props);
      record.reject(error);
    } else {
      record.reject(value);
    }
  }

  #afterSettling() {
    if (this.#tasks.size === 0 && this.#handle !== null) native.poolRef(this.#handle, false);
    if (this.#waiting && this.queueSize === 0) {
      this.#waiting = false;
      this.emit('drain');
    }
    if (this.#closing !== null && this.#tasks.size === 0) this.#stopWorkers();
  }

  // Results in batches: [taskId, ok, value, taskId, ok, value, ...].
  #onResults(flat) {
    for (let i = 0; i < flat.length; i += 3) this.#settle(flat[i], flat[i + 1], flat[i + 2]);
    this.#afterSettling();
  }

  #abort(id, reason) {
    if (!this.#tasks.has(id)) return;
    const where = native.poolCancel(this.#handle, id);
    this.#settle(id, kFailed, errors.aborted(reason));
    // A running task is stopped with its worker (which is replaced).
    if (where > 0) this.#terminate(this.#workers.get(where));
    this.#afterSettling();
  }

  // `throwing`: bad worker options throw (from the constructor) instead of failing the queue.
  #startWorker(throwing = false) {
    const opts = this.#options;
    let worker;
    try {
      worker = new Worker(runnerFile, {
        ...opts.worker,
        workerData: {
          poolId: this.#id,
          filename: opts.filename,
          concurrency: opts.concurrentTasksPerWorker,
          idleTimeout: opts.idleTimeout,
          workerData: opts.workerData,
        },
      });
    } catch (error) {
      if (throwing) throw error;
      // Bad worker options (execArgv, resourceLimits, ...): the queued tasks cannot run.
      for (const id of native.poolDropQueued(this.#handle)) this.#settle(id, kFailed, error);
      this.#afterSettling();
      return;
    }
    const threadId = worker.threadId;
    let ready = false;
    let lastError = null;
    this.#workers.set(threadId, worker);
    this.#starting++;
    worker.on('message', (msg) => {
      if (msg !== kReady || ready) return;
      ready = true;
      this.#starting--;
      const queued = this.queueSize;
      if (queued > 0) this.#grow(queued);
    });
    worker.on('error', (error) => {
      lastError = error;
    });
    worker.on('exit', (code) => {
      if (!ready) this.#starting--;
      this.#onWorkerExit(worker, threadId, code, lastError, ready);
    });
    // After the 'message' listener: as in Node, a Worker's first 'message' listener refs it again.
    worker.unref();
    this.emit('workerCreate', worker);
  }

  #onWorkerExit(worker, threadId, code, error, ready) {
    this.#workers.delete(threadId);
    const lost = this.#handle === null ? [] : native.poolWorkerGone(this.#handle, threadId);
    if (lost.length > 0) {
      const reason = this.#destroyed ? errors.destroyed() : error ?? errors.workerExited(code);
      for (const id of lost) this.#settle(id, kFailed, reason);
    } else if (error !== null) {
      // An error outside any task (a timer in the task file, ...).
      if (this.listenerCount('error') > 0) this.emit('error', error);
      else process.emitWarning(`corral pool worker ${threadId} failed: ${error?.stack ?? error}`);
    }
    this.emit('workerDestroy', worker);
    if (!ready && !this.#destroyed && this.#handle !== null) {
      // It ended while loading the task file (process.exit there, out of memory at start-up):
      // the next one would too. The queued tasks fail (as with a file that throws), instead of
      // workers restarting in a loop; the next run() tries a new worker.
      const reason = error ?? errors.workerExitedAtStart(code);
      if (this.#workers.size === 0) {
        for (const id of native.poolDropQueued(this.#handle)) this.#settle(id, kFailed, reason);
      }
      if (this.#closing !== null && this.#workers.size === 0) this.#finish();
    } else if (this.#closing === null || (!this.#destroyed && this.queueSize > 0 && this.#workers.size === 0)) {
      // Keep minThreads workers, and replace one that ended while tasks wait (also once close()
      // was called: it lets the queued tasks run).
      if (this.#workers.size < this.#options.minThreads || this.queueSize > 0) this.#startWorker();
    } else if (this.#workers.size === 0) {
      this.#finish();
    }
    this.#afterSettling();
  }

  // Until it has ended, a worker being stopped keeps the process alive (its 'exit' settles
  // close(), destroy() and the tasks it still had).
  #terminate(worker) {
    if (worker === undefined) return;
    worker.ref();
    worker.terminate();
  }

  #stopWorkers() {
    if (this.#workers.size === 0) {
      this.#finish();
      return;
    }
    for (const worker of this.#workers.values()) this.#terminate(worker);
  }

  #finish() {
    if (this.#handle === null) return;
    this.#finalStats = native.poolStats(this.#handle);
    native.poolDispose(this.#handle);
    this.#handle = null;
    this.#closing.resolve();
  }

  #beginClose() {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    this.#closing = { promise, resolve };
  }

  // Runs the queued and running tasks to the end, then stops the workers.
  close() {
    if (this.#closing !== null) return this.#closing.promise;
    this.#beginClose();
    native.poolClose(this.#handle);
    if (this.#tasks.size === 0) this.#stopWorkers();
    return this.#closing.promise;
  }

  // Rejects the queued and running tasks and stops the workers.
  destroy() {
    if (this.#destroyed) return this.#closing.promise;
    this.#destroyed = true;
    if (this.#closing === null) this.#beginClose();
    if (this.#handle === null) return this.#closing.promise;
    native.poolClose(this.#handle);
    for (const id of native.poolDropQueued(this.#handle)) this.#settle(id, kFailed, errors.destroyed());
    this.#stopWorkers();
    return this.#closing.promise;
  }
}

module.exports = { Pool };
