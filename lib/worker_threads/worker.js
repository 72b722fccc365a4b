'use strict';
// The parent's side of a worker: validates options like Node, hands the start-up payload to the
// native side (Rust starts the thread, the shim hosts the environment), and turns what comes
// back over two ports into Node's events: 'online', 'message', 'messageerror', 'error', 'exit'.
const EventEmitter = require('events');
const path = require('path');
const { pathToFileURL, fileURLToPath } = require('url');
const { native } = require('../binding');
const { makeError, invalidArgType, invalidArgValue, outOfRange, describeReceived } = require('../errors');
const { MessageChannel, internalChannel, receiveMessageOnPort, armJsTransferables } = require('./port');
// (Loaded with the first Worker: it brings `stream`, which a worker that starts none never needs.)
let stdioModule = null;
const stdio = () => (stdioModule ??= require('./stdio'));
const state = require('./state');
const line = require('./line');
const { major } = require('../node-line');

const SHARE_ENV = Symbol.for('nodejs.worker_threads.SHARE_ENV');
const bootFile = `${__dirname}${path.sep}boot.js`;  // (every worker boot loads this file: no path.join)
// The environment runs this function with (process, Node's internal require, the shim's boot
// natives) before the program's preload modules, then calls the returned module's preload() and
// main() (src/shim/environment.cc).
// corral's modules compile with the process's code cache while the boot runs (code-cache.js).
// What this line's own worker_threads has travels with it (line.js: the worker then need not
// load Node's module to know).
let bootstrapSource = null;
const bootstrap = () => (bootstrapSource ??= `(function corralBoot(process, internalRequire, natives) {
  const { Module } = internalRequire('internal/modules/cjs/loader');
  const bootFile = ${JSON.stringify(bootFile)};
  const codeCacheFile = ${JSON.stringify(path.join(__dirname, 'code-cache.js'))};
  let boot = null;
  if (natives !== undefined && process.permission === undefined) {
    boot = (${loadBootFiles})(Module, natives, codeCacheFile, bootFile);
  }
  if (boot === null) {
    const load = Module.createRequire(bootFile);
    try {
      load(codeCacheFile).install();
    } catch {}
    boot = load(bootFile);
  }
  boot.lineFacts = ${JSON.stringify(line.factsForWorkers())};
  return boot;
})`);

// Run inside a new worker's environment by its bootstrap (as source): loads code-cache.js and
// the binding it requires with the process's code cache (the natives are the shim's, given to
// the bootstrap), then boot.js through code-cache.js. No Node resolver on the way: it stats,
// reads package scopes and realpaths for each file, on every worker boot. null (nothing left
// loaded) when the natives cannot read a file: Node's loader then loads them.
function loadBootFiles(Module, natives, codeCacheFile, bootFile) {
  const loaded = [];
  const compiled = [];  // [filename, function, source hash] compiled from source
  const load = (filename) => {
    const cached = Module._cache[filename];
    if (cached !== undefined) return cached.exports;
    const source = natives.moduleSource(filename);
    if (source === undefined) throw new Error(`corral: cannot read ${filename}`);
    const [wrapper, fresh, sourceHash] = natives.compileModule(source, filename);
    if (fresh) compiled.push([filename, wrapper, sourceHash]);
    const dir = filename.slice(0, filename.lastIndexOf('/'));
    const module = new Module(filename, null);
    module.filename = filename;
    module.paths = [];
    Module._cache[filename] = module;
    loaded.push(filename);
    // (These two files require built-ins and '../binding' only.)
    const require = (id) => {
      if (!id.startsWith('../')) return module.require(id);
      return load(`${dir.slice(0, dir.lastIndexOf('/'))}/${id.slice(3)}.js`);
    };
    wrapper.call(module.exports, module.exports, require, module, filename, dir);
    module.loaded = true;
    return module.exports;
  };
  let codeCache;
  try {
    codeCache = load(codeCacheFile);
  } catch {
    for (const filename of loaded) delete Module._cache[filename];
    return null;
  }
  codeCache.install();
  codeCache.adopt(compiled);
  const root = new Module(bootFile, null);
  root.filename = bootFile;
  root.paths = [];
  return codeCache.requireOwn(bootFile, root);
}

const kPublic = Symbol('corral.worker.public');
const kControl = Symbol('corral.worker.control');
const kOnline = Symbol('corral.worker.online');
const kExited = Symbol('corral.worker.exited');
const kLimits = Symbol('corral.worker.limits');
const kRequested = Symbol('corral.worker.requestedLimits');
const kOnExit = Symbol('corral.worker.onExit');
const kRequests = Symbol('corral.worker.requests');
const kAckStdio = Symbol('corral.worker.ackStdio');
const kHandle = Symbol('corral.worker.handle');
const kName = Symbol('corral.worker.name');
// (Getters on the prototype, as Node's: a Worker's own keys are EventEmitter's and
// `performance`.)
const kThreadId = Symbol('corral.worker.threadId');
const kStdin = Symbol('corral.worker.stdin');
const kStdout = Symbol('corral.worker.stdout');
const kStderr = Symbol('corral.worker.stderr');
let nextRequestId = 0;

function notRunning() {
  return makeError(Error, 'ERR_WORKER_NOT_RUNNING', 'Worker instance not running');
}

function validateSnapshotOptions(options) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', ['object'], options);
  }
  const { exposeInternals = false, exposeNumericValues = false } = options;
  if (typeof exposeInternals !== 'boolean') throw invalidArgType('options.exposeInternals', ['boolean'], exposeInternals);
  if (typeof exposeNumericValues !== 'boolean') {
    throw invalidArgType('options.exposeNumericValues', ['boolean'], exposeNumericValues);
  }
  return { exposeInternals, exposeNumericValues };
}

const limitKeys = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'];

// Warm threads: environments bootstrapped ahead of time, each waiting in Rust for the next
// `new Worker()` of the main thread that has default execArgv and resourceLimits (start-up then
// costs the user's script only). CORRAL_WARM_THREADS sets how many wait (0: off). The second
// such Worker starts them: a program that starts one worker pays for no idle environment, and
// that worker boots without two others booting beside it on the machine's cores.
// Profilers and V8 logs write one file (or stream) per isolate: idle warm isolates would add
// their own, so with those flags no thread waits warm.
const perIsolateOutput = /^--(prof|cpu-prof|heap-prof|log|perf-|trace-gc|trace-opt|trace-deopt)/;
const warmThreads = (() => {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (flags.some((flag) => perIsolateOutput.test(flag))) return 0;
  const value = process.env.CORRAL_WARM_THREADS;
  if (value === undefined || value === '') return 2;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, 64) : 2;
})();
// Node's --no-node-snapshot (on the command line or in NODE_OPTIONS): workers too start
// without the built-in snapshot.
if (state.isMainThread) {
  const noSnapshot = (args) => args.includes('--no-node-snapshot');
  native.useSnapshot(!noSnapshot(process.execArgv) && !noSnapshot((process.env.NODE_OPTIONS ?? '').split(/\s+/)));
}

// diagnostics_channel's 'worker_threads' channel, once the program has loaded
// diagnostics_channel (a subscriber has): not loaded for it otherwise.
let workerThreadsChannelMade = null;
function workerThreadsChannel() {
  if (workerThreadsChannelMade === null && process.moduleLoadList.includes('NativeModule diagnostics_channel')) {
    workerThreadsChannelMade = require('diagnostics_channel').channel('worker_threads');
  }
  return workerThreadsChannelMade;
}

// Hands the payload to the thread native.spawnEarly() started for this Worker. One that cannot
// be serialized stops that thread (the constructor throws as Node's does); one it cannot take
// (its environment could not be made) fails as a thread that could not start.
function deliverEarly(id, payload, transferList) {
  let taken;
  try {
    taken = native.deliver(id, payload, transferList);
  } catch (error) {
    native.stopWorker(id);
    throw error;
  }
  if (!taken) throw makeError(Error, 'ERR_WORKER_INIT_FAILED', 'EAGAIN');
  return id;
}

// What src/shim/questions.cc answers between a worker's JS steps.
const betweenSteps = { heapStatistics: 1, cpuUsage: 2 };

// `new Worker()` calls that could take a warm thread so far (see above).
let warmEligibleStarts = 0;
let warmSpecMade = null;
const warmSpec = () => (warmSpecMade ??=
  { argv: [process.argv0], execArgv: process.execArgv, bootstrap: bootstrap(), limits: [0, 0, 0, 0], name: '' });

// A warm thread's inspector handle is made before its worker exists, so a debugger would see
// it under a placeholder id and no name: while an inspector is in use (an --inspect flag, or
// the main thread has loaded `inspector`), workers start cold, named as Node names them.
const inspectFlag = (() => {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((flag) => /^--inspect(-brk|-wait)?(=|$)/.test(flag));
})();
function inspectorInUse() {
  return inspectFlag || process.moduleLoadList.includes('NativeModule inspector') ||
    process.moduleLoadList.includes('NativeModule inspector/promises');
}

function canUseWarm(options, requestedLimits) {
  return warmThreads > 0 && state.isMainThread && !Array.isArray(options.execArgv) && options.trackUnmanagedFds !== false &&
    Object.keys(requestedLimits).length === 0 && !inspectorInUse();
}

// As Node's Worker: its public port is ref'd and delivering while the Worker has 'message'
// listeners (the worker's lifetime holds the parent's event loop, not this port); without any,
// messages wait in the port for the next listener. Through 'newListener'/'removeListener'
// listeners of the Worker's own, as Node has them.
function followMessageListeners(worker, port) {
  port.unref();
  worker.on('newListener', (name) => {
    if (name !== 'message' || worker.listenerCount('message') !== 0) return;
    port.ref();
    port.start();
  });
  worker.on('removeListener', (name) => {
    if (name !== 'message' || worker.listenerCount('message') !== 0) return;
    native.stop(port);
    port.unref();
  });
}

// The class of getHeapSnapshot()'s stream, named as Node's (made on first use: `stream` loads
// with it).
let HeapSnapshotStream = null;
function heapSnapshotStream() {
  HeapSnapshotStream ??= class HeapSnapshotStream extends require('stream').Readable {};
  return HeapSnapshotStream;
}

function workerPathError(filename) {
  let hint = '';
  if (filename.startsWith('file://')) hint = ' Wrap file:// URLs with `new URL`.';
  else if (filename.startsWith('data:text/javascript')) hint = ' Wrap data: URLs with `new URL`.';
  return makeError(TypeError, 'ERR_WORKER_PATH',
    'The worker script or module filename must be an absolute path or a relative path starting ' +
    `with './' or '../'.${hint} Received "${filename}"`);
}

// Returns { kind: 'file' | 'classic' | 'module', source } as Node resolves `filename`.
function resolveEntry(filename, options) {
  if (options.eval) {
    if (typeof filename !== 'string') {
      throw invalidArgValue('options.eval', options.eval, "must be false when 'filename' is not a string");
    }
    return { kind: 'classic', source: filename };
  }
  if (filename instanceof URL) {
    if (filename.protocol === 'data:') return { kind: 'module', source: filename.href };
    if (filename.protocol !== 'file:') {
      throw makeError(TypeError, 'ERR_INVALID_URL_SCHEME', 'The URL must be of scheme file');
    }
    return { kind: 'file', source: fileURLToPath(filename) };
  }
  if (typeof filename !== 'string') throw invalidArgType('filename', ['string', 'URL'], filename);
  if (path.isAbsolute(filename) || /^\.\.?[\\/]/.test(filename)) {
    return { kind: 'file', source: path.resolve(filename) };
  }
  throw workerPathError(filename);
}

function copyEnv(env) {
  const copy = {};
  for (const key of Object.keys(env)) copy[key] = `${env[key]}`;
  return copy;
}

function readLimits(limits) {
  // As Node: anything but an object asks for no limits (no error).
  if (typeof limits !== 'object' || limits === null) return {};
  // As Node: numbers are kept as given (V8 gets only the positive ones), except that the old
  // generation is at least 2 MiB.
  const out = {};
  for (const key of limitKeys) {
    if (typeof limits[key] !== 'number') continue;
    out[key] = key === 'maxOldGenerationSizeMb' ? Math.max(limits[key], 2) : limits[key];
  }
  return out;
}

// The limits a worker actually runs with, as Node reports them: what was asked for, else V8's
// defaults for this machine and line. Where this Node build does not let corral hand heap sizes
// to V8 (isolate.cc), only the old-generation cap (checked after each full GC) and the stack
// size apply, and the young generation and code range report V8's defaults.
let heapLimitsApplied;
let defaultHeapSizes;

function effectiveLimits(requested) {
  heapLimitsApplied ??= native.heapLimitsApplied();
  defaultHeapSizes ??= native.defaultHeapSizes();
  const [defaultYoungMb, defaultOldMb] = defaultHeapSizes;
  const positive = (value) => (typeof value === 'number' && value > 0 ? value : undefined);
  return {
    maxYoungGenerationSizeMb: (heapLimitsApplied && positive(requested.maxYoungGenerationSizeMb)) || defaultYoungMb,
    maxOldGenerationSizeMb: requested.maxOldGenerationSizeMb ?? defaultOldMb,
    codeRangeSizeMb: (heapLimitsApplied && positive(requested.codeRangeSizeMb)) || 0,
    stackSizeMb: positive(requested.stackSizeMb) ?? 4,
  };
}

class Worker extends EventEmitter {
  constructor(filename, options = {}) {
    super();
    // As Node, which reads the options without checking them: a primitive has none of them,
    // null fails at the first one read.
    if (options === null) throw new TypeError("Cannot read properties of null (reading 'execArgv')");
    if (typeof options !== 'object' && typeof options !== 'function') options = {};
    // (In Node's order: with two bad options, the same error wins.)
    const execArgvChecks = require('./exec-argv');
    execArgvChecks.checkExecArgvType(options.execArgv);
    if (options.argv !== undefined && !Array.isArray(options.argv)) {
      throw invalidArgType('options.argv', ['Array'], options.argv);
    }
    const entry = resolveEntry(filename, options);
    const env = options.env ?? process.env;
    if (env !== SHARE_ENV && typeof env !== 'object') {
      throw makeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options.env" property must be of type object or ' +
        `one of undefined, null, or worker_threads.SHARE_ENV.${describeReceived(env)}`);
    }
    // As Node: a falsy name is no name; any other must be a string, used trimmed.
    if (options.name && typeof options.name !== 'string') {
      throw invalidArgType('options.name', ['string'], options.name);
    }
    const requestedLimits = readLimits(options.resourceLimits);
    const limits = effectiveLimits(requestedLimits);
    const execArgv = execArgvChecks.validateExecArgv(options.execArgv, options.env);
    // As Node reads it: any truthy value, item by item up to its length (an array-like, not
    // an iterable: a Set gives nothing, a number nothing, a string its characters).
    const transferList = options.transferList ? Array.prototype.slice.call(options.transferList) : [];
    // Every environment's bootstrap reads the process's own environment, and one that finds
    // NODE_CHANNEL_FD makes that fd its IPC channel (or fails, taking the process down). Node
    // removes it at start-up; set again by the program, it is removed here (the worker's
    // process.env copy keeps it, as in Node).
    const envCopy = env === SHARE_ENV ? null : copyEnv(env);
    if (process.env.NODE_CHANNEL_FD !== undefined && env !== SHARE_ENV) delete process.env.NODE_CHANNEL_FD;
    // With no warm thread waiting, the worker's thread starts now, its payload handed over
    // below: its isolate and environment are made on its own core while this thread prepares
    // the payload. (It is the worker's own from the start: threadId, name, inspector handle.)
    const warm = canUseWarm(options, requestedLimits);
    const name = options.name ? options.name.trim() : (major >= 24 ? 'WorkerThread' : '');
    const url = entry.kind === 'file' ? pathToFileURL(entry.source).href : entry.kind === 'module' ? entry.source : '';
    const early = warm ? native.spawnEarly({ argv: [process.argv0], execArgv, bootstrap: bootstrap(),
      limits: [0, 0, 0, 0], trackUnmanagedFds: true, name, url }) : 0;

    // The control channel is made first so its wake-ups are seen before the public port's:
    // 'online' comes before the first 'message'.
    // (The handle first, as Node makes it before the public port; the control channel is
    // corral's stand-in for that handle, not a port of the program's.)
    this[kHandle] = workerHandle();
    const control = internalChannel();
    const pub = new MessageChannel();
    const argv = (options.argv ?? []).map(String);
    const ownOptions = {
      execArgv,
      explicit: Array.isArray(options.execArgv) || (typeof options.env === 'object' && options.env !== null),
      env: env === SHARE_ENV ? process.env : env,
    };
    const payload = {
      entry,
      argv,
      execArgv,
      options: require('./exec-options').forWorker({ ...ownOptions, inherited: state.execOptions }),
      profiles: require('./exec-options').fileProfiles({ ...ownOptions, inherited: state.fileProfiles }),
      env: envCopy,
      workerData: options.workerData,
      environmentData: [...state.environmentData],
      publicPort: pub.port2,
      controlPort: control.port2,
      stdin: !!options.stdin,
      resourceLimits: limits,
      // Node 24+ names an unnamed worker's thread 'WorkerThread'; Node 22 leaves it ''.
      name,
      parentThreadId: state.threadId,
      // As Node: workers of the main thread cache process.cwd() until the main thread chdirs.
      cwdCounter: state.isMainThread ? shareCwdCounter() : state.cwdCounter,
    };

    this[kPublic] = pub.port1;
    this[kControl] = control.port1;
    this[kOnline] = false;
    this[kExited] = false;
    this[kLimits] = limits;
    this[kRequested] = requestedLimits;
    this[kRequests] = new Map();
    this[kAckStdio] = stdio().acknowledger(control.port1);
    this[kName] = payload.name;
    this[kStdin] = options.stdin ? stdio().parentStdin(control.port1) : null;
    this[kStdout] = stdio().workerOutput((upTo) => this[kAckStdio](1, upTo));
    this[kStderr] = stdio().workerOutput((upTo) => this[kAckStdio](2, upTo));
    if (!options.stdout) this.stdout.on('data', (chunk) => process.stdout.write(chunk));
    if (!options.stderr) this.stderr.on('data', (chunk) => process.stderr.write(chunk));

    // The main thread's mailbox (postMessageToThread) opens with its first worker: before that
    // no other thread could post to it.
    if (state.isMainThread && 'postMessageToThread' in line.builtin) require('./messaging').openMailbox();
    armJsTransferables(transferList);
    if (early !== 0) {
      this[kThreadId] = deliverEarly(early, payload, [control.port2, pub.port2, ...transferList]);
    } else this[kThreadId] = native.spawn({
      // Only the executable: the boot sets process.argv (an argv[1] here would let Node's own
      // bootstrap start a cluster worker's IPC from the process's NODE_UNIQUE_ID).
      argv: [process.argv0],  // the worker's process.argv0, as Node's: the process's own
      execArgv,
      bootstrap: bootstrap(),
      limits: limitKeys.map((k) => requestedLimits[k] ?? 0),
      trackUnmanagedFds: options.trackUnmanagedFds !== false,
      name: payload.name,
      // What the parent's inspector shows for the worker (NodeWorker.attachedToWorker), as Node.
      url,
      warm,
    }, payload, [control.port2, pub.port2, ...transferList]);
    if (warm && ++warmEligibleStarts >= 2) native.keepWarm(warmSpec(), warmThreads);
    this.performance = this.#makePerformance();

    // As Node: process 'worker' once the thread has been created, and diagnostics_channel's
    // 'worker_threads' at once.
    process.nextTick(() => process.emit('worker', this));
    const channel = workerThreadsChannel();
    if (channel?.hasSubscribers) channel.publish({ worker: this });
    // 'online', 'error' and 'exit' run in the async context the Worker was made in, as Node's
    // (an AsyncLocalStorage store set around `new Worker()` is seen there): the handle's scope.
    const handle = this[kHandle];
    control.port1.on('message', (msg) => handle.runInAsyncScope(() => this.#onControl(msg)));
    // The worker has ended. Its last messages come first, each in its own callback (so code
    // awaiting one can still attach to 'exit'); 'exit' follows in a later poll phase, where
    // Node emits it: what the program queues from it (unref'd immediates, async_hooks destroy
    // hooks) runs in that loop turn (from a setImmediate they waited a whole wake-up).
    control.port1.on('close', () => inPollPhase(() => handle.runInAsyncScope(() => this[kOnExit]())));
    pub.port1.on('message', (value) => {
      if (!this[kOnline]) this.#drainControl();
      this.emit('message', value);
    });
    pub.port1.on('messageerror', (error) => this.emit('messageerror', error));
    followMessageListeners(this, pub.port1);
  }

  #drainControl() {
    let msg;
    while (!this[kExited] && (msg = receiveMessageOnPort(this[kControl]))) this.#onControl(msg.message);
  }

  #drainPublic() {
    let msg;
    while ((msg = receiveMessageOnPort(this[kPublic]))) this.emit('message', msg.message);
  }

  #onControl(msg) {
    // (An answer made between the worker's JS steps comes as JSON: see #request.)
    if (typeof msg === 'string') msg = JSON.parse(msg);
    switch (msg.type) {
      case 'online':
        this[kOnline] = true;
        this.emit('online');
        break;
      case 'stdio':
        stdio().takeOutput(msg.fd === 2 ? this.stderr : this.stdout, msg.data);
        break;
      case 'reply': {
        const pending = this[kRequests].get(msg.id);
        this[kRequests].delete(msg.id);
        if (!pending) break;
        if ('error' in msg) pending.reject(msg.props ? Object.assign(msg.error, msg.props) : msg.error);
        else pending.resolve(msg.value);
        break;
      }
      case 'error':
        if (msg.uncaught !== undefined) {
          msg.error = require('./uncaught').fromWorker(msg.uncaught);
        } else if (msg.unserializable) {
          msg.error = makeError(Error, 'ERR_WORKER_UNSERIALIZABLE_ERROR', 'Serializing an uncaught exception failed');
        } else if (msg.props && msg.error !== null && typeof msg.error === 'object') {
          Object.assign(msg.error, msg.props);
        }
        // Messages the worker posted before it threw come first, whichever port woke first.
        this.#drainPublic();
        this.emit('error', msg.error);
        break;
      default:
        break;
    }
  }

  [kOnExit]() {
    if (this[kExited]) return;
    this.#drainControl();
    // Messages the worker sent before it ended are delivered before 'exit', as in Node (while
    // the Worker still counts as running for them).
    this.#drainPublic();
    this[kExited] = true;
    // As Node: 'exit' once the worker's environment is gone (what it tracked closed). That
    // follows its ports' closing within a few ms; the wait is bounded.
    native.awaitEnvFreed(this.threadId, 200);
    const code = native.exitCode(this.threadId) ?? 1;
    // Its last messages, then (as Node) no more 'message' listeners, before the errors and 'exit'.
    this.#drainPublic();
    this.removeAllListeners('message');
    this.removeAllListeners('messageerror');
    const initFailure = native.initFailed(this.threadId);
    if (initFailure !== undefined) {
      this.emit('error', makeError(Error, 'ERR_WORKER_INIT_FAILED', `Worker initialization failure: ${initFailure}`));
    }
    if (native.outOfMemory(this.threadId)) {
      this.emit('error', makeError(Error, 'ERR_WORKER_OUT_OF_MEMORY',
        'Worker terminated due to reaching memory limit: JS heap out of memory'));
    }
    this.#drainPublic();
    this[kPublic].close();
    this.stdout.push(null);
    this.stderr.push(null);
    this[kThreadId] = -1;
    for (const pending of this[kRequests].values()) pending.reject(notRunning());
    this[kRequests].clear();
    try {
      this.emit('exit', code);
    } finally {
      // The handle goes away after 'exit' (async_hooks see it destroyed; hasRef() undefined).
      this[kHandle].close();
    }
    // As Node: a Worker that has exited keeps no listeners.
    this.removeAllListeners();
  }

  postMessage(...args) {
    if (this[kExited]) return;
    this[kPublic].postMessage(...args);
  }

  terminate(callback) {
    // DEP0132: the callback is End-of-Life from Node 25 (ignored there, with no warning).
    if (typeof callback === 'function' && major < 25) {
      process.emitWarning('Passing a callback to worker.terminate() is deprecated. ' +
        'It returns a Promise instead.', 'DeprecationWarning', 'DEP0132');
      this.once('exit', (code) => process.nextTick(callback, null, code));
    }
    // (Node's terminate() starts with this.ref(): called on something that is no Worker, it
    // throws as Node's does, before any promise.)
    if (this[kControl] === undefined) this.ref();
    if (this[kExited]) return Promise.resolve();
    const exited = new Promise((resolve) => this.once('exit', resolve));
    // As Node: a pending terminate() keeps the process alive until the worker has exited, even
    // an unref()'d one.
    this[kControl].ref();
    native.stopWorker(this.threadId);
    return exited;
  }

  // Asks the worker's thread (lib/worker_threads/introspect.js); answered when its event loop
  // gets to the request. `whileBooting`: what to do before 'online' (Node has no environment
  // to ask then, and says the worker is not running).
  // Heap statistics and CPU time are answered between the worker's JS steps, as Node's are (a
  // worker in a long synchronous loop answers at once): src/shim/questions.cc.
  #request(op, args, whileBooting = 'ask') {
    if (this[kExited] || (!this[kOnline] && whileBooting === 'refuse')) return Promise.reject(notRunning());
    return new Promise((resolve, reject) => {
      const id = ++nextRequestId;
      this[kRequests].set(id, { resolve, reject });
      const between = betweenSteps[op];
      if (between !== undefined && native.askWorker(this[kThreadId], id, between)) return;
      this[kControl].postMessage({ type: 'request', id, op, args });
    });
  }

  // A Readable of the worker's heap snapshot (JSON), as Node's.
  getHeapSnapshot(options) {
    const validated = validateSnapshotOptions(options);
    return this.#request('heapSnapshot', validated).then((data) => {
      const stream = new (heapSnapshotStream())({ read() {} });
      stream.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      stream.push(null);
      return stream;
    });
  }

  getHeapStatistics() {
    return this.#request('heapStatistics', undefined, 'refuse');
  }

  // The worker thread's CPU time in microseconds, or what it used since `prev`.
  cpuUsage(prev) {
    // As Node: a falsy prev is none; else an object of two numbers from 0 to the largest safe integer.
    if (prev) {
      if (typeof prev !== 'object' || Array.isArray(prev)) throw invalidArgType('prev', ['object'], prev);
      for (const key of ['user', 'system']) {
        if (typeof prev[key] !== 'number') throw invalidArgType(`prev.${key}`, 'number', prev[key]);
        if (!(prev[key] >= 0 && prev[key] <= Number.MAX_SAFE_INTEGER)) {
          throw outOfRange(`prev.${key}`, `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, prev[key]);
        }
      }
    }
    return this.#request('cpuUsage', undefined, 'refuse').then((usage) =>
      prev ? { user: usage.user - prev.user, system: usage.system - prev.system } : usage);
  }

  // Node 22's form takes a profile name (one profile per name), 24's nothing, 26's sampling
  // options. The profile JSON comes from stop(), which gives the same text when called again.
  startCpuProfile(argument) {
    const form = line.cpuProfileArgument;
    if (form === 'name' && typeof argument !== 'string') throw invalidArgType('name', 'string', argument);
    if (form === 'options' && argument !== undefined && (typeof argument !== 'object' || argument === null)) {
      throw invalidArgType('options', 'object', argument);
    }
    const id = ++nextRequestId;
    const args = { id, title: form === 'name' ? argument : `corral-${id}`, options: form === 'options' ? argument : undefined };
    return this.#request('cpuProfileStart', args, 'refuse')
      .then(() => profileHandle(() => this.#request('cpuProfileStop', { id }), form === 'name' ? null : CPUProfileHandle));
  }

  startHeapProfile(options) {
    // Node 26 checks the sampling options at once (and the worker's v8.startHeapProfile uses them).
    const args = line.heapProfileOptions ? heapProfileOptions(options) : undefined;
    return this.#request('heapProfileStart', args, 'refuse')
      .then(() => profileHandle(() => this.#request('heapProfileStop'), HeapProfileHandle));
  }

  // The name of the worker's thread while it runs (options.name), null once it has ended.
  get threadName() {
    return this[kExited] ? null : this[kName];
  }

  async [Symbol.asyncDispose]() {
    await this.terminate();
  }

  ref() {
    this[kHandle].refed = true;
    if (!this[kExited]) this[kControl].ref();
    this[kPublic].ref();  // as Node refs its public port too
  }

  unref() {
    this[kHandle].refed = false;
    if (!this[kExited]) this[kControl].unref();
    this[kPublic].unref();
  }

  static [Symbol.for('corral.worker')] = true;

  get threadId() {
    void this[kHandle].threadId;  // (on something that is no Worker: Node's TypeError)
    return this[kThreadId] ?? -1;
  }

  get stdin() { return this[kStdin] ?? null; }

  get stdout() { return this[kStdout]; }

  get stderr() { return this[kStderr]; }

  #makePerformance() {
    // As Node's: bound to the worker; idle and active milliseconds of its event loop since it
    // started (or since util1; or between util1 and util2), seen from this thread; all 0
    // before 'online' and after the exit, whatever is passed.
    function eventLoopUtilization(util1, util2) {
      const worker = this;
      if (!worker[kOnline] || worker[kExited]) return { idle: 0, active: 0, utilization: 0 };
      if (util2) {
        const idle = util1.idle - util2.idle;
        const active = util1.active - util2.active;
        return { idle, active, utilization: active / (idle + active) };
      }
      const times = native.loopTimes(worker.threadId);
      if (times === undefined) return { idle: 0, active: 0, utilization: 0 };
      const [idleMs, startNs] = times;
      let idle = idleMs;
      let active = Number(process.hrtime.bigint() - BigInt(Math.round(startNs))) / 1e6 - idleMs;
      if (util1) {
        idle -= util1.idle;
        active -= util1.active;
      }
      return { idle, active, utilization: active / (idle + active) };
    }
    return { eventLoopUtilization: eventLoopUtilization.bind(this) };
  }

  // As Node: until the worker is online, what was asked for (-1 where nothing was, the
  // default stack); then the limits it runs with.
  get resourceLimits() {
    if (this[kExited]) return {};
    if (this[kOnline]) return { ...this[kLimits] };
    const asked = this[kRequested];
    return {
      maxYoungGenerationSizeMb: asked.maxYoungGenerationSizeMb ?? -1,
      maxOldGenerationSizeMb: asked.maxOldGenerationSizeMb ?? -1,
      codeRangeSizeMb: asked.codeRangeSizeMb ?? -1,
      stackSizeMb: asked.stackSizeMb > 0 ? asked.stackSizeMb : 4,
    };
  }
}

// Runs `fn` from the poll phase of a coming loop turn (a message to ourselves), after what
// this poll phase still delivers. Holds the loop while something waits.
let pollQueue = [];
let pollPorts = null;
function inPollPhase(fn) {
  if (pollPorts === null) {
    pollPorts = internalChannel();
    pollPorts.port2.on('message', () => {
      const due = pollQueue;
      pollQueue = [];
      let i = 0;
      try {
        for (; i < due.length; i++) due[i]();
      } finally {
        // A throw (an 'exit' listener's, say) goes on to uncaughtException; the rest still run,
        // in the next turn, and nothing is left holding the loop.
        if (i < due.length - 1) {
          pollQueue.unshift(...due.slice(i + 1));
          pollPorts.port1.postMessage(null);
        }
        if (pollQueue.length === 0) pollPorts.port2.unref();
      }
    });
  }
  pollQueue.push(fn);
  pollPorts.port2.ref();
  pollPorts.port1.postMessage(null);
}

// A counter the main thread bumps on every process.chdir(), which its workers read before
// trusting their cached cwd (Node's own optimisation, which its tests observe).
let cwdCounter = null;
function shareCwdCounter() {
  if (cwdCounter !== null) return cwdCounter.buffer;
  // Without SharedArrayBuffer or Atomics (--no-harmony-*), workers ask the system every time.
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return undefined;
  cwdCounter = new Int32Array(new SharedArrayBuffer(4));
  const rawChdir = process.chdir;
  process.chdir = function chdir(directory) {
    rawChdir.call(process, directory);
    Atomics.add(cwdCounter, 0, 1);
  };
  return cwdCounter.buffer;
}

// The worker's handle as async_hooks see it (type 'WORKER', with hasRef() as Node's handle
// has): made with the Worker, destroyed after its 'exit'.
function workerHandle() {
  const { AsyncResource } = require('async_hooks');
  const handle = new AsyncResource('WORKER');
  handle.refed = true;
  handle.closed = false;
  handle.hasRef = () => (handle.closed ? undefined : handle.refed);
  handle.close = () => {
    handle.closed = true;
    handle.emitDestroy();
  };
  return handle;
}

// Node 26's checks of worker.startHeapProfile(options) (those of v8.startHeapProfile).
function heapProfileOptions(options = {}) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', 'object', options);
  }
  const { sampleInterval = 512 * 1024, stackDepth = 16 } = options;
  if (typeof sampleInterval !== 'number') throw invalidArgType('options.sampleInterval', 'number', sampleInterval);
  if (!Number.isInteger(sampleInterval)) throw outOfRange('options.sampleInterval', 'an integer', sampleInterval);
  if (sampleInterval < 1 || sampleInterval > Number.MAX_SAFE_INTEGER) {
    throw outOfRange('options.sampleInterval', `>= 1 && <= ${Number.MAX_SAFE_INTEGER}`, sampleInterval);
  }
  if (typeof stackDepth !== 'number') throw invalidArgType('options.stackDepth', 'number', stackDepth);
  if (!Number.isInteger(stackDepth)) throw outOfRange('options.stackDepth', 'an integer', stackDepth);
  if (stackDepth < 0 || stackDepth > 2 ** 31 - 1) throw outOfRange('options.stackDepth', '>= 0 && <= 2147483647', stackDepth);
  for (const flag of ['forceGC', 'includeObjectsCollectedByMajorGC', 'includeObjectsCollectedByMinorGC']) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw invalidArgType(`options.${flag}`, 'boolean', options[flag]);
    }
  }
  const { forceGC, includeObjectsCollectedByMajorGC, includeObjectsCollectedByMinorGC } = options;
  return { sampleInterval, stackDepth, forceGC, includeObjectsCollectedByMajorGC, includeObjectsCollectedByMinorGC };
}

// What startCpuProfile() / startHeapProfile() resolve to: stop() ends the profile and gives its
// JSON, the same text when called again. Node 22's CPU handle is a plain object.
const kStop = Symbol('corral.profile.stop');

class CPUProfileHandle {
  stop() { return this[kStop](); }
  async [Symbol.asyncDispose]() { await this.stop(); }
}

class HeapProfileHandle {
  stop() { return this[kStop](); }
  async [Symbol.asyncDispose]() { await this.stop(); }
}

function profileHandle(request, HandleClass) {
  let stopped = null;
  const stop = () => (stopped ??= request());
  if (HandleClass === null) return { stop, async [Symbol.asyncDispose]() { await stop(); } };
  const handle = new HandleClass();
  Object.defineProperty(handle, kStop, { value: stop });
  return handle;
}

// This line's Worker has the methods of this line's built-in Worker, no more.
for (const name of ['getHeapStatistics', 'cpuUsage', 'startCpuProfile', 'startHeapProfile', 'threadName']) {
  if (!line.builtinWorkerMethods.has(name)) delete Worker.prototype[name];
}
if (!line.builtinWorkerMethods.has('asyncDispose')) delete Worker.prototype[Symbol.asyncDispose];
// From Node 25 terminate() takes no callback (DEP0132, End-of-Life).
if (major >= 25) Object.defineProperty(Worker.prototype.terminate, 'length', { value: 0 });

module.exports = { Worker, SHARE_ENV };
