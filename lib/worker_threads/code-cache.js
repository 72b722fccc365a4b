'use strict';
// corral's own modules compiled with V8's code cache. Every worker environment loads the same
// files before the user's code runs; compiling them from source (and then compiling their
// functions lazily) was about a fifth of a worker's start-up CPU. The first environment keeps
// each file's cache for the process (src/shim/code_cache.cc), made once its boot has run so
// that the functions the boot compiled are in it; later ones deserialize it. The build leaves
// one boot's caches in build/ (scripts/make-code-cache.js), and those of the modules only a
// main thread loads (cluster, child_process, pool, ...): a process's first worker, and a
// program's first require of a corral module, start from those (used only for the source they
// were made from). V8 checks a cache against its own version and flags; a rejected one is
// compiled from source.
//
// In a worker, only while the boot runs (install/finish): Module.prototype._compile is Node's
// own again before the program's preload modules load. Elsewhere, only while one of corral's
// module trees loads (whileLoading): a main thread's caches are not kept (they lack a boot's
// functions: measured, the first worker started no sooner from them). Files that use import()
// compile Node's way (corral's compile gives them no module loader).
const path = require('path');
// Node's CommonJS Module class, from this module object (not require('module'), which loads the
// public `module` built-in and the ESM loader parts it brings, unused by corral). A loader of
// another kind (a test runner's module registry) gives its own object: then the built-in.
const Module = typeof module.constructor?._resolveFilename === 'function' ? module.constructor : require('module');
const { native } = require('../binding');

// (Joined by hand, not with path.join: __dirname is absolute and normalised, and every worker
// boot runs this.)
const libDir = path.dirname(__dirname) + path.sep;
let nodeCompile = null;
let keepMade = true;  // false while a main thread loads corral's modules (whileLoading)
const made = [];  // [filename, module function, source hash] compiled from source
// The build's caches (scripts/make-code-cache.js), for a process's first worker.
const buildFile = `${path.dirname(libDir)}${path.sep}build${path.sep}corral-node${process.versions.node.split('.')[0]}.codecache`;

// corral's files require each other by relative paths ('./port', '../binding'): those are
// resolved here, without Node's resolver, which for each new (file, request) pair stats
// candidates, reads the package scope and realpaths the result (with path normalisation hot
// enough to get V8's optimizing compiler going in every environment): a sixth of a cold
// worker's boot. Anything else (a built-in, a name with another shape, a file not found here)
// goes to Node's. Not under Node's permission model, where every read is Node's to check.
const ownLookups = new Map();  // dir + '\0' + request -> filename, or null: Node's to resolve
const ownRequires = process.permission === undefined && path.sep === '/';

function ownFilename(dir, request) {
  const key = `${dir}\0${request}`;
  let filename = ownLookups.get(key);
  if (filename === undefined) {
    const base = joinRelative(dir, request);
    filename = base === null ? null : isOwnFile(`${base}.js`) ? `${base}.js` :
      isOwnFile(`${base}/index.js`) ? `${base}/index.js` : null;
    ownLookups.set(key, filename);
  }
  return filename;
}

// `request` ('./x', '../x', '../../a/b') from `dir`: the path it names inside lib/, or null.
function joinRelative(dir, request) {
  let base = dir;
  let at = 0;
  for (;;) {
    if (request.startsWith('./', at)) {
      at += 2;
    } else if (request.startsWith('../', at)) {
      base = base.slice(0, base.lastIndexOf('/'));
      at += 3;
    } else {
      break;
    }
  }
  const rest = request.slice(at);
  if (at === 0 || rest === '' || rest.startsWith('.') || rest.includes('/.') || rest.endsWith('/')) return null;
  const joined = `${base}/${rest}`;
  return joined.startsWith(libDir) ? joined : null;
}

// (moduleSource keeps what it reads for the load that follows.)
const isOwnFile = (filename) => native.moduleSource(filename) !== undefined;

// A directory's node_modules lookup paths, made once (each new array costs a path.resolve: on
// every worker boot, enough of them to make V8 optimize Node's path normalisation).
const lookupPaths = new Map();
function pathsOf(dir) {
  let paths = lookupPaths.get(dir);
  if (paths === undefined) {
    paths = Module._nodeModulePaths(dir);
    lookupPaths.set(dir, paths);
  }
  return paths.slice();
}

// Module._load's work for a file already resolved: the cached module, or a new one loaded.
function requireOwn(filename, parent) {
  const cached = Module._cache[filename];
  if (cached !== undefined) {
    if (!parent.children.includes(cached)) parent.children.push(cached);
    return cached.exports;
  }
  const module = new Module(filename, parent);
  module.filename = filename;
  module.paths = pathsOf(dirOf(filename));
  Module._cache[filename] = module;
  if (hidingOwnModules) Object.defineProperty(Module._cache, filename, { enumerable: false });
  let loaded = false;
  try {
    // Module.prototype.load's work for a file of corral's, without its extension lookup (another
    // walk of the name) and its export snapshot for the ESM loader, which never imports these.
    Module._extensions['.js'].call(Module._extensions, module, filename);
    module.loaded = true;
    loaded = true;
  } finally {
    if (!loaded) {
      delete Module._cache[filename];
      const at = parent.children.indexOf(module);
      if (at !== -1) parent.children.splice(at, 1);
    }
  }
  return module.exports;
}

// A file's directory (path.dirname, whose character loop is hot enough on every worker boot to
// get V8 optimizing it): corral's files have absolute POSIX paths.
const dirOf = (filename) => (ownRequires ? filename.slice(0, filename.lastIndexOf('/')) : path.dirname(filename));

function requireFor(module) {
  const dir = dirOf(module.filename);
  const require = function require(id) {
    const own = ownRequires && typeof id === 'string' && id.startsWith('.') ? ownFilename(dir, id) : null;
    return own !== null ? requireOwn(own, module) : module.require(id);
  };
  require.resolve = (request, options) => Module._resolveFilename(request, module, false, options);
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

function compileCached(content, filename) {
  if (!filename.startsWith(libDir) || content.includes('import(')) {
    return nodeCompile.apply(this, arguments);
  }
  const [wrapper, fresh, sourceHash] = native.compileModule(content, filename);
  if (fresh && keepMade) made.push([filename, wrapper, sourceHash]);
  return wrapper.call(this.exports, this.exports, requireFor(this), this, filename, dirOf(filename));
}

// corral's files are read as the process's shared external strings (src/shim/code_cache.cc
// moduleSource): the boot allocates no copy of them on the worker's heap.
let nodeLoadJs = null;
// (Not under Node's permission model: Node's loader checks each read there.)
function loadShared(module, filename) {
  const source = filename.startsWith(libDir) && !process.permission ? native.moduleSource(filename) : undefined;
  if (source === undefined) return nodeLoadJs.call(this, module, filename);
  module._compile(source, filename);
}

function install() {
  if (nodeCompile !== null) return;
  native.codeCacheLoadFile(buildFile, libDir);
  nodeCompile = Module.prototype._compile;
  Module.prototype._compile = compileCached;
  nodeLoadJs = Module._extensions['.js'];
  Module._extensions['.js'] = loadShared;
}

// A worker's bootstrap compiled this file and the binding before this module existed
// (worker.js loadFirstFiles): those compiled from source leave their caches at finish() too.
function adopt(compiled) {
  for (const entry of compiled) made.push(entry);
}

// The boot is done: Node compiles from here on, and what was compiled from source leaves its
// cache (with the functions compiled since) for the next environment.
function finish() {
  if (nodeCompile === null) return;
  const fresh = made.splice(0);
  restore();
  for (const [filename, wrapper, sourceHash] of fresh) native.keepModuleCache(filename, wrapper, sourceHash);
}

// Runs `load` (a require of corral's modules) with corral's compile in place, unless a boot or
// an outer call has put it there already; Node's is back when `load` returns or throws. With
// `keep` (scripts/make-code-cache.js), what compiled from source leaves its cache.
function whileLoading(load, keep = false) {
  if (nodeCompile !== null) return load();
  install();
  keepMade = keep;
  try {
    return load();
  } finally {
    if (keep) finish();
    else restore();
    keepMade = true;
    if (hidingOwnModules) hideOwnModules();
  }
}

// In a worker and in a forked child, corral's own modules are not among the program's: their
// require.cache entries are made non-enumerable (still found by a require of them, so nothing
// loads twice, but not listed by Object.keys(require.cache) nor cleared by a tool that empties
// it), at boot and after every later load of one of corral's module trees.
let hidingOwnModules = false;
function hideOwnModules() {
  hidingOwnModules = true;
  const cache = Module._cache;
  for (const key of Object.keys(cache)) {
    if (key.startsWith(libDir)) Object.defineProperty(cache, key, { enumerable: false });
  }
}

function restore() {
  Module.prototype._compile = nodeCompile;
  nodeCompile = null;
  Module._extensions['.js'] = nodeLoadJs;
  made.length = 0;
}

module.exports = { install, adopt, finish, whileLoading, requireOwn, hideOwnModules, Module };
