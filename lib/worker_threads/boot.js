'use strict';
// Runs first in every corral worker environment (passed to node::LoadEnvironment). Node treats
// such an environment as a main thread; this makes it behave as a worker: corral's
// worker_threads module with parentPort/workerData, a private copy of process.env, stdio relayed
// through the parent, process-wide operations refused, uncaught errors reported to the parent.
// A worker's process.env: its own copy of `values`, an object of the shim's as Node's is
// (env_object.cc); the descriptors Node refuses throw Node's errors from here.
function refuseEnvDescriptor(accessor) {
  throw require('../errors').makeError(TypeError, 'ERR_INVALID_OBJECT_DEFINE_PROPERTY', accessor ?
    "'process.env' does not accept an accessor(getter/setter) descriptor" :
    "'process.env' only accepts a configurable, writable, and enumerable data descriptor");
}

function makeEnv(values) {
  return require('../binding').native.makeEnvObject(values, refuseEnvDescriptor);
}

function unsupported(name) {
  const { makeError } = require('../errors');
  const fn = function unavailableInWorker() {
    throw makeError(TypeError, 'ERR_WORKER_UNSUPPORTED_OPERATION', `${name} is not supported in workers`);
  };
  fn.disabled = true;
  return fn;
}

function refuseProcessWideOperations(process, internalRequire) {
  // The main thread's own debugging hooks: a worker has none (as Node's).
  for (const name of ['_startProfilerIdleNotifier', '_stopProfilerIdleNotifier', '_debugProcess', '_debugPause', '_debugEnd']) {
    delete process[name];
  }
  markWorkerForNodeInternals(internalRequire);
  process.abort = unsupported('process.abort()');
  process.chdir = unsupported('process.chdir()');
  for (const name of ['setuid', 'setgid', 'seteuid', 'setegid', 'setgroups', 'initgroups']) {
    if (typeof process[name] === 'function') process[name] = unsupported(`process.${name}()`);
  }
  const umask = process.umask;
  process.umask = function (mask) {
    if (mask !== undefined) unsupported('Setting process.umask()')();
    return umask.call(process);
  };
  // Signals belong to the main thread: a worker's listener must not install a process-wide
  // handler (Node's workers never receive signal events).
  // (Both of Node's signal listeners go, as a worker of Node's has neither.)
  for (const listener of process.listeners('newListener')) {
    if (listener.name === 'startListeningIfSignal') process.removeListener('newListener', listener);
  }
  for (const listener of process.listeners('removeListener')) {
    if (listener.name === 'stopListeningIfSignal') process.removeListener('removeListener', listener);
  }
}

// process.loadEnvFile() in a worker with an environment of its own fills that environment, as
// in Node (Node's native loader writes the process's): the file is read and parsed as Node's
// loader does (util.parseEnv), and variables already set are kept.
function loadEnvFileIntoOwnEnv(process) {
  if (typeof process.loadEnvFile !== 'function') return;
  process.loadEnvFile = function loadEnvFile(path = undefined) {
    const file = path != null ? nodeInternals('internal/fs/utils').getValidatedPath(path) : '.env';
    const values = require('util').parseEnv(require('fs').readFileSync(file, 'utf8'));
    for (const key of Object.keys(values)) {
      if (!(key in process.env)) process.env[key] = values[key];
    }
  };
}

// Node's internals ask internal/worker's isMainThread and ownsProcessState to tell a worker
// (crypto's process-wide settings, trace_events, process.execve, --watch's import reports): this
// environment was made from the main thread's snapshot and says main thread. They are set when
// that module loads (loading it here would bring Node's worker I/O and streams into every
// worker).
function markWorkerForNodeInternals(internalRequire) {
  const mark = (exports) => {
    exports.isMainThread = false;
    exports.ownsProcessState = false;
    return exports;
  };
  const record = internalRequire('internal/bootstrap/realm').BuiltinModule.map.get('internal/worker');
  if (record === undefined) return;
  if (record.loaded) {
    mark(record.exports);
    return;
  }
  const compile = record.compileForInternalLoader;
  record.compileForInternalLoader = function compileForInternalLoader() {
    delete record.compileForInternalLoader;
    return mark(compile.apply(this, arguments));
  };
}

// A worker whose environment names an IPC channel still has none, as in Node: its IPC API
// refuses to be used.
function refuseIpc(process) {
  process.send = unsupported('process.send()');
  process.disconnect = unsupported('process.disconnect()');
  for (const name of ['channel', 'connected']) {
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: true,
      get() {
        throw require('../errors').makeError(TypeError, 'ERR_WORKER_UNSUPPORTED_OPERATION',
          `process.${name} is not supported in workers`);
      },
    });
  }
}

// The streams are made on first use, as Node makes a process's: a worker that never touches its
// stdio never loads `stream`. Returns a function giving them.
function setupStdio(process, control, withStdin) {
  let streams = null;
  let stdio = null;
  const made = () => {
    if (streams !== null) return streams;
    stdio = require('./stdio');
    streams = {
      stdout: stdio.relayWritable(control, 1),
      stderr: stdio.relayWritable(control, 2),
      stdin: stdio.relayedStdin(control, withStdin),
    };
    control.on('message', (msg) => {
      if (msg.type === 'stdioAck') stdio.acknowledged(msg.fd === 2 ? streams.stderr : streams.stdout, msg.upTo);
    });
    return streams;
  };
  // What the streams still buffer goes out at exit: by an 'exit' listener of that name, there
  // from the start, as Node's worker has it (a tool counting listeners sees the same).
  // (Code that runs at exit stays clear of what a program may have patched by then, such as
  // Array.prototype[Symbol.iterator], as Node's own exit path does.)
  process.on('exit', function flushSync() {
    if (streams !== null) stdio.flushAtExit(streams.stdout, streams.stderr);
  });
  for (const name of ['stdout', 'stderr', 'stdin']) {
    Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => made()[name] });
  }
  // The global console may already have bound the real streams lazily: it writes to these
  // (unless the program sets its own).
  for (const [key, name] of [['_stdout', 'stdout'], ['_stderr', 'stderr']]) {
    let set;
    try {
      Object.defineProperty(console, key, {
        configurable: true,
        enumerable: false,
        get: () => set ?? process[name],
        set: (value) => { set = value; },
      });
    } catch {}
  }
  return made;
}

// A boot failure's error (corral's own): V8 clones an Error with its name, message and stack
// only; its own properties (code, ...) travel beside it and are put back by the parent.
function cloneableProps(error, clone) {
  if (error === null || typeof error !== 'object') return undefined;
  const props = {};
  for (const key of Object.keys(error)) {
    try {
      props[key] = clone(error[key]);
    } catch {}
  }
  return props;
}

// Uncaught exceptions and unhandled rejections reach Node's handler, process._fatalException
// (it emits 'uncaughtException' and 'uncaughtExceptionMonitor' and says whether a listener
// handled the error). Wrapped as Node's workers wrap it: what nobody handled goes to the parent
// as 'error' and ends the worker with 1. No listener of corral's is visible to the program.
function reportUncaught(process, control, native) {
  const handle = process._fatalException;
  process._fatalException = function workerOnGlobalUncaughtException(error, fromPromise) {
    // A listener that throws: its error is the one reported, as Node's workers do (exit 1, not
    // the main thread's 7).
    let listenerThrew = false;
    try {
      if (handle.call(this, error, fromPromise)) return true;
    } catch (thrown) {
      error = thrown;
      listenerThrew = true;
    }
    // As Node's workers: exit code 1 unless an 'exit' listener changes it.
    if (!process._exiting) {
      try {
        process._exiting = true;
        process.exitCode = 1;
        if (!listenerThrew) process.emit('exit', 1);
      } catch {}
    }
    try {
      control.postMessage({ type: 'error', uncaught: require('./uncaught').forParent(error) });
    } catch {
      // (util.inspect itself threw on it: what Node's parent then gets, an error of its own.)
      control.postMessage({ type: 'error', unserializable: true });
    }
    process.exit();
    return true;
  };
}

// What the boot loaded stays in require.cache (corral's modules require each other lazily) but
// out of the program's sight, as in Node's workers, whose require.cache starts empty: tools
// list it (and some delete what they find, which would load corral a second time). So does
// what corral loads later (code-cache.js).
function hideOwnModules() {
  require('./code-cache').hideOwnModules();
}

// Reports a failure of the bootstrap itself (before the user's code runs) and ends the worker
// with code 1: an exception escaping LoadEnvironment would abort the whole process.
function bootFailed(process, control, error) {
  try {
    // (primitive fields only: the native clone may be what failed to load)
    const primitive = (value) => {
      if ((typeof value === 'object' && value !== null) || typeof value === 'function') throw new TypeError();
      return value;
    };
    if (control !== null) control.postMessage({ type: 'error', error, props: cloneableProps(error, primitive) });
    else require('../binding').native.setInitFailed(String(error));  // the parent reports it
  } catch {
    // Not even the binding loads (no descriptors left): the shim reports what escapes the boot
    // as ERR_WORKER_INIT_FAILED.
    if (control === null && error?.code !== 'ERR_CORRAL_ENV_STOPPING') throw error;
    // (An environment that is being stopped has no one left to tell.)
    if (error?.code !== 'ERR_CORRAL_ENV_STOPPING') {
      require('fs').writeSync(2, `corral: worker bootstrap failed: ${error?.stack ?? error}\n`);
    }
  }
  process.exit(1);
}

// The program's preload modules run right after the boot's preload phase, inside the
// environment's bootstrap, where Node would report a throw as the whole process's fatal
// error. As in Node's workers, it is the worker's error instead: 'error' (with its code), then
// exit 1.
function reportPreloadFailure(control) {
  const { Module } = require('./code-cache');
  const preloadModules = Module._preloadModules;
  if (typeof preloadModules !== 'function') return;
  Module._preloadModules = function (requests) {
    Module._preloadModules = preloadModules;
    try {
      return preloadModules.call(this, requests);
    } catch (error) {
      bootFailed(process, control, error);
    }
  };
}

// corral's modules compile with the process's code cache only until the program's own preload
// modules load (see code-cache.js, installed by the bootstrap in worker.js).
function finishCodeCache() {
  try {
    require('./code-cache').finish();
  } catch {}
}

let booted = null;  // { control, entry } once the preload phase has made this a worker

// Phase one, before the program's preload modules (-r / --import) run: everything that makes
// this environment a worker, and the worker's own Node options (which decide those preloads).
// Node's internal require, for what runs after the preload.
let nodeInternals = null;

exports.preload = function preload(process, internalRequire) {
  nodeInternals = internalRequire;
  let control = null;
  try {
    // port.js registers the MessagePort class the payload's ports are made with. What does
    // not depend on the payload is loaded first: a warm thread has it ready when claimed.
    const line = require('./line');
    if (exports.lineFacts !== undefined) line.useWorkerFacts(exports.lineFacts, internalRequire);
    require('./port').setInternalRequire(internalRequire);
    const { native } = require('../binding');
    // The built-ins become corral's here: worker_threads now (synced again once this thread
    // knows it is a worker), cluster and child_process on first use. What runs until the
    // payload comes sees a private copy of the environment, never the process's own.
    const sharedEnv = process.env;
    process.env = makeEnv(sharedEnv);
    const register = require('../register');
    register.useBuiltinRecords(internalRequire('internal/bootstrap/realm').BuiltinModule.map);
    if (exports.lineFacts !== undefined) line.presetBuiltin();
    register.installBuiltins(register.workerEager, register.workerLazy);
    require('./entry').compileEval(require('vm'), '', '[worker eval]'); // the eval path's first compile, too
    refuseProcessWideOperations(process, internalRequire);
    const payload = native.takePayload();
    // A warm thread stopped before any Worker claimed it: nothing to run or report (and no
    // preload of the program's to run either).
    if (payload === undefined) {
      finishCodeCache();
      require('./exec-options').apply(internalRequire, require('./exec-options').defaults());
      return;
    }
    control = payload.controlPort;
    startFileProfiles(native, payload.profiles, internalRequire);
    setupWorker(process, native, payload, sharedEnv);
    process.argv = [process.execPath, ...payload.argv];
    require('./exec-options').apply(internalRequire, payload.options);
    reportPreloadFailure(control);
    // --input-type=module makes eval'd code an ES module, as in Node's workers.
    const inputType = internalRequire('internal/options').getOptionValue('--input-type');
    const entry = payload.entry.kind === 'classic' && inputType === 'module' ?
      { kind: 'eval-module', source: payload.entry.source } : payload.entry;
    booted = { control, entry, native, internalRequire };
    finishCodeCache();
    hideOwnModules();
  } catch (error) {
    finishCodeCache();
    // The worker ends; the program's preloads must not run meanwhile.
    try {
      const options = internalRequire('internal/options');
      for (const name of ['--require', '--import']) options.getOptionValue(name).length = 0;
    } catch {}
    // corral's own boot failed (out of descriptors, say: it reads its modules from files, where
    // Node's worker bootstrap reads nothing): as in Node, ERR_WORKER_INIT_FAILED with the cause.
    bootFailed(process, null, error);
  }
};

// Phase two, after the preloads: the worker is up; its script runs. From here on errors are the
// user's: they reach the parent through process._fatalException.
exports.main = function main(process) {
  if (booted === null) return;
  // As Node's workers: the script runs once the event loop has started, from its poll phase
  // (where Node runs it, on its LOAD_SCRIPT message: the script's first setImmediate comes
  // before its first timer), so its event-loop utilization counts from there.
  const { port1, port2 } = require('./port').internalChannel();
  port2.once('message', () => {
    port1.close();
    booted.native.markBegun();
    booted.control.postMessage({ type: 'online' });
    require('./entry').runEntry(process, booted.entry, booted.internalRequire);
  });
  port1.postMessage(null);
};

// process.cwd() asks the system again only after the main thread changed directory. (This
// environment's own process.cwd caches until a chdir of its own, which never comes: the
// directory is read with realpath('.') instead, the same physical path getcwd gives.)
function cacheCwd(process, counter) {
  const fs = require('fs');
  const rawCwd = () => fs.realpathSync.native('.');
  if (counter === undefined) {
    process.cwd = function cwd() { return rawCwd(); };
    return;
  }
  let cached = '';
  let seen = -1;
  process.cwd = function cwd() {
    const current = Atomics.load(counter, 0);
    if (current === seen) return cached;
    seen = current;
    cached = rawCwd();
    return cached;
  };
}

// The worker's own --cpu-prof / --heap-prof, unless the process's options (which this
// environment has) already make Node profile it.
function startFileProfiles(native, profiles, internalRequire) {
  require('./state').fileProfiles = profiles;
  if (profiles === null) return;
  const { getOptionValue } = internalRequire('internal/options');
  native.profiler.toFiles(getOptionValue('--cpu-prof') ? undefined : profiles.cpu,
    getOptionValue('--heap-prof') ? undefined : profiles.heap);
}

function setupWorker(process, native, payload, sharedEnv) {
  const state = require('./state');
  state.isMainThread = false;
  state.threadId = native.currentThreadId();
  state.threadName = payload.name;
  if (payload.name) native.setThreadName(payload.name);  // (a warm thread was started unnamed)
  state.parentPort = payload.publicPort;
  state.workerData = payload.workerData;
  state.resourceLimits = payload.resourceLimits;
  state.environmentData = new Map(payload.environmentData);
  state.execOptions = payload.options;

  process.env = payload.env === null ? sharedEnv : makeEnv(payload.env); // null: SHARE_ENV
  if (payload.env !== null) loadEnvFileIntoOwnEnv(process);
  if (process.env.NODE_CHANNEL_FD !== undefined) refuseIpc(process);
  state.cwdCounter = payload.cwdCounter;
  cacheCwd(process, payload.cwdCounter === undefined ? undefined : new Int32Array(payload.cwdCounter));
  process.execArgv = payload.execArgv;
  const control = payload.controlPort;
  const stdio = setupStdio(process, control, payload.stdin);
  control.on('message', (msg) => {
    if (msg.type === 'stdin') stdio().stdin.push(msg.data === null ? null : Buffer.from(msg.data));
    else if (msg.type === 'request') require('./introspect').answer(control, native, msg);
  });
  // Heap statistics and CPU time are answered between JS steps, on this port (questions.cc).
  native.setQuestionsPort(control);
  // The control port must not keep the worker alive by itself.
  control.unref();
  reportUncaught(process, control, native);
  require('./messaging').openMailbox();
  require('../register').installBuiltins(['worker_threads']);
}
