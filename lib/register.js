'use strict';
// `node -r corral/register app.js` (or `--import corral/register`): the program's
// worker_threads, cluster and child_process (CJS require, ESM import, with or without the
// `node:` prefix) are corral's.
// (lib/builtins.js's helpers, inlined: the preload loads this one file.)
const getBuiltin = (name) => (process.getBuiltinModule ? process.getBuiltinModule(name) : require(`node:${name}`));
// Whether this thread has loaded a built-in already (then reading it costs nothing).
const isLoaded = (name) => process.moduleLoadList.includes(`NativeModule ${name}`);
const kLazy = Symbol.for('corral.register.lazy');
const kLazyExport = Symbol.for('corral.lazyExport');

// Built-in name -> corral module.
const replacements = {
  worker_threads: () => require('./load')('worker_threads'),
  child_process: () => require('./load')('child_process'),
  cluster: () => require('./load')('cluster'),
};

// Node's CommonJS Module class, without loading the public `module` built-in where this file's
// module object gives it (see worker_threads/code-cache.js).
const nodeModule = () => (typeof module.constructor?._resolveFilename === 'function' ? module.constructor : require('module'));

// The built-in's own exports object gets corral's values, so CJS `require('worker_threads')`
// and ESM imports (after syncBuiltinESMExports) both see corral, with no wrapper in the
// require path. Repeated on every call, so values set later (a worker's parentPort) are seen.
// corral itself never calls into the built-in.
function syncBuiltins(names = Object.keys(replacements), esm = true) {
  for (const name of names) {
    const builtin = getBuiltin(name);
    const ours = replacements[name]();
    for (const key of Object.keys(ours)) {
      try {
        // A value corral's module reads on first use stays so (its accessor then leaves it in place).
        const get = Object.getOwnPropertyDescriptor(ours, key)?.get;
        if (get?.[kLazyExport] && builtin !== ours) {
          Object.defineProperty(builtin, key, { get, enumerable: true, configurable: true });
        } else {
          builtin[key] = ours[key];
        }
      } catch {}
    }
  }
  if (esm && names.length > 0) syncESMFacades(names);
}

// Node's records of its built-ins, where this thread can reach them (a corral worker's boot).
let builtinRecords = null;
function useBuiltinRecords(records) {
  builtinRecords = records;
}

// ESM imports of `names` see the values their exports objects have now. Node's
// syncBuiltinESMExports walks every built-in (its internal ones too, 300 on Node 26): where the
// records are at hand (every worker boot), only these.
function syncESMFacades(names) {
  if (builtinRecords === null) {
    nodeModule().syncBuiltinESMExports();
    return;
  }
  for (const name of names) builtinRecords.get(name)?.syncExports();
}

// The keys of a built-in that corral's module gives its own values.
const replacedKeys = {
  worker_threads: (builtin) => Object.keys(builtin),
  // Node's cluster object becomes corral's primary; EventEmitter state (`_events`, ...) stays.
  cluster: (builtin) => [...Object.keys(builtin).filter((k) => !k.startsWith('_')), 'SCHED_REUSEPORT'],
  child_process: () => ['fork'],
};

// Functions only ever called (never compared or constructed) wait as stand-ins: data
// properties, as Node has them, so tools that read a module's data properties only (jest's
// automock skips accessors: `jest.mock('child_process')` would have no `fork`) see them.
const callThrough = { child_process: ['fork'] };
const kInstall = Symbol.for('corral.register.install');

// Stand-ins in place until corral's module loads: [builtin, key, standIn, install].
const standIns = [];

// corral/register run again in an environment corral has set up (a worker thread's boot): as on
// the main thread, where it runs after the program's earlier preloads, it has the last word, so
// a stand-in an earlier preload replaced is put back.
function reassertStandIns() {
  for (const [builtin, key, standIn, install] of standIns) {
    if (!pending.has(install.builtinName)) continue;
    if (builtin[key] !== standIn) builtin[key] = standIn;
  }
}

function defineStandIn(builtin, key, descriptor, install, corrals) {
  const original = descriptor.value;
  const standIn = { [key](...args) { install(); return corrals().apply(this, args); } }[key];
  Object.defineProperty(standIn, 'length', { value: original.length });
  standIn[kLazy] = descriptor;
  standIn[kInstall] = install;
  Object.defineProperty(builtin, key, { ...descriptor, value: standIn });
  standIns.push([builtin, key, standIn, install]);
}

// Makes `name` corral's on first use: its replaced keys become accessors that load corral's
// module, put the built-in's own properties back and sync. A program (or worker) that never
// touches a module pays neither its load time nor its memory: on the main thread nothing of
// corral's, not even the addon, loads until the program uses worker_threads, cluster or
// child_process. ESM namespaces read the accessors when first imported, so they see corral's
// values too.
const pending = new Set();  // built-ins whose accessors are in place

function installLazily(name) {
  if (pending.has(name)) return;
  pending.add(name);
  const builtin = getBuiltin(name);
  const keys = replacedKeys[name](builtin);
  const own = new Map(keys.map((key) => [key, Object.getOwnPropertyDescriptor(builtin, key)]));
  let installed = false;
  const install = () => {
    if (installed) return;
    installed = true;
    pending.delete(name);
    // A stand-in the program has replaced (a wrapper around it, say) keeps the program's value.
    const programs = new Map();
    for (const [key, descriptor] of own) {
      const now = Object.getOwnPropertyDescriptor(builtin, key);
      if (now && 'value' in now && !(now.value?.[kInstall] === install)) programs.set(key, now.value);
      if (descriptor) Object.defineProperty(builtin, key, descriptor);
      else delete builtin[key];
    }
    // No ESM sync here: the first read may come from anywhere, even from inside V8 replacing a
    // lazy property of another built-in (syncing every facade then re-enters that read and
    // fails V8's check). A facade of this built-in made later reads corral's values; one being
    // made now is what is reading, and reads the rest after this.
    syncBuiltins([name], false);
    for (const [key, value] of programs) builtin[key] = value;
  };
  install.builtinName = name;
  for (const key of keys) {
    if (callThrough[name]?.includes(key) && typeof own.get(key)?.value === 'function') {
      defineStandIn(builtin, key, own.get(key), install, () => replacements[name]()[key]);
      continue;
    }
    const get = () => { install(); return builtin[key]; };
    // What the built-in had there, for corral's own modules (builtins.pristine).
    get[kLazy] = own.get(key) ?? null;
    get[kInstall] = install;
    Object.defineProperty(builtin, key, {
      configurable: true,
      enumerable: true,
      get,
      set(value) { install(); builtin[key] = value; },
    });
  }
}

// Built-ins made corral's the moment Node loads them, not on first use: their values are then
// data properties, as Node's. Tools that read a module's own data properties only (jest's
// automock skips accessors: `jest.mock('worker_threads')` would have no Worker) see all of
// them. Loading one means using it (every program that loads them reads a key at once), so
// nothing is paid earlier than with accessors. child_process is loaded by programs that never
// fork (spawn, exec): it keeps the accessors and the stand-in fork.
const atLoad = new Set(['worker_threads', 'cluster']);

// Makes `name` corral's now that Node has loaded it. `inLoad`: called from inside Node's load
// of a built-in, where a sync of the ESM facades could re-enter a facade being made.
function takeOver(name, inLoad) {
  if (atLoad.has(name) && !corralModuleLoading(name)) {
    try {
      syncBuiltins([name], !inLoad);
      return;
    } catch {
      // corral's module failed to load (out of descriptors, say): the accessors try again on
      // first use, where the error reaches the program, as it would from a require of its own.
    }
  }
  installLazily(name);
}

// Whether corral's module for `name` is itself loading (the program required it directly and it
// is what loads the built-in): its exports are not all there yet, so the built-in gets the
// accessors, and the module's last line (builtins.loaded) makes it corral's.
function corralModuleLoading(name) {
  // (Its index file, named without Node's resolver, which would cache the lookup for good.)
  const entry = require.cache[`${__dirname}/${name}/index.js`];
  return entry !== undefined && !entry.loaded;
}

// `lazy`: built-ins made corral's when Node loads them instead of now (see takeOver).
function installBuiltins(names, lazy = []) {
  // Seen by corral/cluster: the primary then lives on Node's own cluster object.
  globalThis[Symbol.for('corral.register')] = true;
  installWhenLoaded(lazy);
  syncBuiltins(names);
  if (names.includes('worker_threads') || lazy.includes('worker_threads')) installGlobals();
}

// The program's global MessageChannel, MessagePort and BroadcastChannel are worker_threads',
// as in Node (so corral's, made on first use; MessageEvent accepts their ports); Node's own
// machinery that takes ports (module.register's transferList, structuredClone's transfer) gets
// bridged ports of its own kind for corral's (lib/worker_threads/bridge.js).
let globalsInstalled = false;

function installGlobals() {
  if (globalsInstalled) return;
  globalsInstalled = true;
  for (const name of ['MessageChannel', 'MessagePort', 'BroadcastChannel']) {
    const define = (value) => Object.defineProperty(globalThis, name, {
      value, writable: true, enumerable: false, configurable: true,
    });
    // Deleted first: on 22+ Node's global is a lazy data property, and redefining it in place
    // makes Node load its own MessageChannel (and streams) first, 1.5 ms for nothing.
    delete globalThis[name];
    Object.defineProperty(globalThis, name, {
      enumerable: false,
      configurable: true,
      get() {
        const value = require('./worker_threads')[name];
        define(value);
        return value;
      },
      set: define,
    });
  }
  // MessageEvent stays Node's, taught to accept corral's ports as `source` and `ports`. Only on
  // Node 20, where the global is an accessor: on 22+ it is a lazy data property that loads undici
  // (5 MiB, in every thread) on any touch, redefining it included.
  const nodeMessageEvent = Number(process.versions.node.split('.')[0]) < 22 ?
    Object.getOwnPropertyDescriptor(globalThis, 'MessageEvent') : undefined;
  if (nodeMessageEvent !== undefined && nodeMessageEvent.configurable) {
    const define = (value) => Object.defineProperty(globalThis, 'MessageEvent', {
      value, writable: true, enumerable: false, configurable: true,
    });
    Object.defineProperty(globalThis, 'MessageEvent', {
      enumerable: false,
      configurable: true,
      get() {
        const original = nodeMessageEvent.get ? nodeMessageEvent.get.call(globalThis) : nodeMessageEvent.value;
        const value = require('./worker_threads/message-event').messageEventFor(original);
        define(value);
        return value;
      },
      set: define,
    });
  }
  const nodeClone = globalThis.structuredClone;
  const portModule = require('path').join(__dirname, 'worker_threads', 'port.js');
  if (typeof nodeClone === 'function') {
    // (Rest parameters: Node's function has length 0, and its missing-argument error.)
    globalThis.structuredClone = function structuredClone(...args) {
      const [value, options] = args;
      const transfer = options?.transfer;
      // (Only once corral's ports exist: nothing else can hold one.)
      const corralPorts = () => require.cache[portModule] !== undefined;
      if (Array.isArray(transfer) && transfer.length > 0 && corralPorts() &&
          transfer.some((item) => item instanceof require('./worker_threads').MessagePort)) {
        return require('./worker_threads/port').cloneValue(value, transfer);
      }
      // Where Node's clone takes a corral port for a plain object (Node 26: {}), corral's clone
      // goes first, for its error; what only Node can clone (a Blob...) is still Node's.
      if (args.length > 0 && value !== null && typeof value === 'object' && (transfer === undefined || Array.isArray(transfer)) &&
          corralPorts() && portsCloneQuietly()) {
        try {
          return require('./worker_threads/port').cloneValue(value, transfer ?? []);
        } catch (error) {
          if (error?.name !== 'DataCloneError' || !/unsupported type/.test(error.message)) throw error;
        }
      }
      try {
        return nodeClone(...args);
      } catch (error) {
        // A corral port left out of the transfer list: corral's clone gives Node's error for it.
        if (error?.name === 'DataCloneError' && args.length > 0 && corralPorts()) {
          return require('./worker_threads/port').cloneValue(value, Array.isArray(transfer) ? transfer : []);
        }
        throw error;
      }
    };
    Object.defineProperty(globalThis.structuredClone, 'length', { value: nodeClone.length });
    let quietly;
    const portsCloneQuietly = () => {
      if (quietly === undefined) {
        const { port1 } = new (require('./worker_threads').MessageChannel)();
        try {
          nodeClone(port1);
          quietly = true;
        } catch {
          quietly = false;
        }
        port1.close();
      }
      return quietly;
    };
  }
  // module.register(..., { transferList }) gets Node ports for corral's, once Node has loaded
  // its public module (not loaded here: it brings source maps along).
  whenLoaded('module', () => wrapModuleRegister(getBuiltin('module')));
}

function wrapModuleRegister(Module) {
  if (typeof Module.register !== 'function') return;
  const nodeRegister = Module.register;
  Module.register = function register(specifier, parentURL, options) {
    // register(specifier, { data, transferList, parentURL }) or (specifier, parentURL, options)
    const opts = parentURL !== null && typeof parentURL === 'object' && !(parentURL instanceof URL) ? parentURL : options;
    if (opts && Array.isArray(opts.transferList) && opts.transferList.length > 0) {
      const [data, transferList] = require('./worker_threads/bridge').forNode(opts.data, opts.transferList);
      const bridged = { ...opts, data, transferList };
      return opts === parentURL ? nodeRegister.call(this, specifier, bridged) :
        nodeRegister.call(this, specifier, parentURL, bridged);
    }
    return nodeRegister.apply(this, arguments);
  };
}

// What `-r corral/register` / `--import corral/register` runs. Worker threads inherit the
// preload with execArgv; in a corral worker the boot has already done what it does (its preload
// phase runs before the program's preloads). In a process that Node's own cluster started as a
// worker (pm2, or a stock primary forking with `-r corral/register`), cluster
// stays Node's, so the worker talks to its primary in Node's protocol; a worker of corral's
// primary sets up its side at once (its servers must listen through the primary).
function installPreload() {
  // Already done in this environment (a corral worker's boot): the program's earlier preloads
  // may have changed the built-ins since, so corral's values are put back.
  if (globalThis[Symbol.for('corral.register')] === true) {
    syncBuiltins(Object.keys(replacements).filter((name) => !pending.has(name) && !waiting.has(name)));
    reassertStandIns();
    const cluster = isLoaded('cluster') ? getBuiltin('cluster') : null;
    const methods = cluster?.[Symbol.for('corral.cluster.methods')];
    if (methods) Object.assign(cluster, methods);
    return;
  }
  // A thread of Node's own (the ESM loader-hooks thread, which inherits the preload, or a
  // node:worker_threads Worker): none of corral's business. Node's workers have loaded
  // worker_threads before any preload; the main thread has not (unless an earlier preload did),
  // and is not made to load it here.
  if (isLoaded('worker_threads') && getBuiltin('worker_threads').isMainThread === false) return;
  // Node has set its cluster up as a worker before any preload runs (and removed
  // NODE_UNIQUE_ID); in any other process its cluster module is not loaded yet.
  const clusterWorkerOfNode = isLoaded('cluster') && getBuiltin('cluster').isWorker === true;
  const clusterWorkerOfCorral = process.env.CORRAL_CLUSTER_WORKER !== undefined;
  if (clusterWorkerOfCorral) hideInjectedPreload();
  // (Node's cluster loads child_process and keeps its fork: a stand-in that calls corral's.)
  const lazy = ['worker_threads', 'child_process'];
  if (!clusterWorkerOfNode && !clusterWorkerOfCorral) lazy.unshift('cluster');
  installBuiltins(clusterWorkerOfCorral ? ['cluster'] : [], lazy);
}

// A worker of corral's cluster primary whose execArgv (cluster.settings.execArgv) left out the
// register got it from the primary: its process.execArgv is the settings' own, as in Node.
function hideInjectedPreload() {
  if (process.env.CORRAL_REGISTER_INJECTED !== '1') return;
  delete process.env.CORRAL_REGISTER_INJECTED;
  const self = require('path').join(__dirname, '..', 'register.js');
  const at = process.execArgv.findIndex((arg, i) => arg === '--require' && process.execArgv[i + 1] === self);
  if (at >= 0) process.execArgv.splice(at, 2);
}

// takeOver for each of `names`: now for those already loaded (by an earlier preload, or by Node
// before any preload), the others when Node loads them.
function installWhenLoaded(names) {
  for (const name of names) whenLoaded(name, (inLoad) => takeOver(name, inLoad));
}

// Built-ins not loaded yet -> what to do when Node loads them (see watchBuiltinLoads).
const waiting = new Map();
let watching = null;  // true once the watch is on, false where it cannot be

// Runs `then` once Node has loaded the built-in `name`: now if it has, else at that moment
// (then with `true`: from inside Node's load).
function whenLoaded(name, then) {
  if (isLoaded(name)) return then(false);
  watching ??= watchBuiltinLoads();
  if (!watching) {
    getBuiltin(name);
    return then(false);
  }
  const before = waiting.get(name);
  waiting.set(name, before ? (inLoad) => { before(inLoad); then(inLoad); } : then);
}

// A built-in is taken over (takeOver) the moment Node loads it, not at start-up:
// a process that never loads worker_threads, cluster or child_process pays neither their load
// time nor their memory (5 ms and more: they bring streams, net and dgram; in a worker thread,
// half a MiB).
// The moment: Node records each built-in it loads in process.moduleLoadList (with the generic
// Array push), after the module has run and before anyone gets it: CJS require,
// getBuiltinModule, the facade of an ESM import (static or dynamic; nothing else announces
// those on Node 20, and module.registerHooks, where a line has it, taxes every module loaded
// afterwards by 7-13 us). The list gets a prototype of its own with a setter at the next
// index; the setter stores the entry as a plain element and moves itself one on.
// Array.prototype is not touched, so V8's fast paths stay as they are for every other array.
// Checked on Node 20, 22, 24 and 26 (register tests); another line loads the built-ins at once.
function watchBuiltinLoads() {
  const list = process.moduleLoadList;
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20 || major > 26 || !Array.isArray(list) || Object.getPrototypeOf(list) !== Array.prototype ||
      !Object.isExtensible(list)) {
    return false;
  }
  const trap = Object.create(Array.prototype);
  let index = -1;
  const armAt = (at) => {
    if (index >= 0) delete trap[index];
    index = at;
    Object.defineProperty(trap, index, { configurable: true, enumerable: false, get: () => undefined, set: onPush });
  };
  function onPush(entry) {
    // What the push meant: a plain element at this index.
    const at = index;
    Object.defineProperty(list, at, { value: entry, writable: true, enumerable: true, configurable: true });
    armAt(list.length);
    if (pushDepth > 0) cutOff.push(entry);
    const name = typeof entry === 'string' && entry.startsWith('NativeModule ') ? entry.slice(13) : undefined;
    const then = waiting.get(name);
    if (then !== undefined) {
      waiting.delete(name);
      pushDepth++;
      try {
        then(true);
      } catch (error) {
        process.emitWarning(`corral/register could not take over ${name}: ${error?.message}`);
      } finally {
        pushDepth--;
      }
    }
    if (pushDepth > 0) return;
    // Built-ins loaded by what `then` loaded were pushed after this entry, and the push that
    // called this one now sets the list's length to at + 1, cutting them off: the next push
    // comes at at + 1, and they go back in a moment (a push of their own each, as Node's).
    if (cutOff.length > 0) {
      armAt(at + 1);
      const entries = cutOff.splice(0);
      queueMicrotask(() => { for (const cut of entries) list.push(cut); });
    }
    if (waiting.size === 0) {  // nothing left to wait for: a plain array again
      delete trap[index];
      Object.setPrototypeOf(list, Array.prototype);
      watching = null;
    }
  }
  armAt(list.length);
  Object.setPrototypeOf(list, trap);
  return true;
}

// Pushes of the list made from inside one of its pushes (see onPush), and what they pushed.
let pushDepth = 0;
const cutOff = [];

const workerEager = ['worker_threads'];
const workerLazy = ['cluster', 'child_process'];

module.exports = { installBuiltins, installPreload, useBuiltinRecords, workerEager, workerLazy, replacements, replacedKeys };
