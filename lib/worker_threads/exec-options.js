'use strict';
// A worker's own Node options, as Node's workers get them. With an explicit execArgv a worker
// starts from Node's defaults, then its env's NODE_OPTIONS, then execArgv; without one it
// inherits its parent's options. corral's environments all start with the process's options
// (the embedder API parses none per environment), so before the program's preload modules run,
// the boot sets what Node reads per environment to the worker's values: the preload lists
// (-r/--require, --import), -C/--conditions, --experimental-vm-modules, --loader,
// --experimental-import-meta-resolve, the warning and
// deprecation switches, --enable-source-maps, --input-type, --unhandled-rejections, and (turned
// off only) the navigator and WebSocket globals.
const { major } = require('../node-line');

// Options that take a value (`--opt value` or `--opt=value`), by the name Node reads.
const valued = {
  '-r': '--require', '--require': '--require', '--import': '--import',
  '--loader': '--experimental-loader', '--experimental-loader': '--experimental-loader',
  '-C': '--conditions', '--conditions': '--conditions', '--input-type': '--input-type',
  '--disable-warning': '--disable-warning', '--unhandled-rejections': '--unhandled-rejections',
};
const lists = new Set(['--require', '--import', '--conditions', '--disable-warning', '--experimental-loader']);
// Web globals Node sets up (or not) before corral's boot runs: a worker's own options can only
// take them away (Node 22+, where they are on by default).
const webGlobals = major >= 22 ?
  { '--experimental-global-navigator': ['navigator', 'Navigator'], '--experimental-websocket': ['WebSocket', 'CloseEvent'] } : {};
const switches = ['--experimental-vm-modules', '--experimental-import-meta-resolve', '--warnings', '--deprecation', '--throw-deprecation',
  '--trace-deprecation', '--trace-warnings', '--pending-deprecation', '--enable-source-maps', ...Object.keys(webGlobals)];

function defaults() {
  const values = { '--input-type': '', '--unhandled-rejections': '', '--warnings': true, '--deprecation': true };
  for (const name of Object.keys(webGlobals)) values[name] = true;
  for (const name of lists) values[name] = [];
  for (const name of switches) if (!(name in values)) values[name] = false;
  return values;
}

// NODE_OPTIONS is split on spaces; double quotes group, a backslash escapes inside them.
function splitNodeOptions(text) {
  const args = [];
  let current = '';
  let quoted = false;
  let started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\' && i + 1 < text.length) {
      current += text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      started = true;
    } else if (c === ' ' && !quoted) {
      if (started) args.push(current);
      current = '';
      started = false;
    } else {
      current += c;
      started = true;
    }
  }
  if (started) args.push(current);
  return args;
}

function parseInto(values, args) {
  for (let i = 0; i < args.length; i++) {
    const arg = String(args[i]);
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (flag in valued) {
      const value = flag !== arg ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) continue;
      const name = valued[flag];
      if (lists.has(name)) values[name].push(String(value));
      else values[name] = String(value);
      continue;
    }
    const negated = flag.startsWith('--no-') ? `--${flag.slice(5)}` : null;
    if (negated && switches.includes(negated)) values[negated] = false;
    else if (switches.includes(flag)) values[flag] = true;
  }
  return values;
}

// The options a new worker runs with (computed by its parent). As Node: a worker given its own
// execArgv or env object starts from the defaults, then that env's NODE_OPTIONS, then execArgv
// (the parent's execArgv when it has none); otherwise it inherits its parent's options
// (`inherited`, null on the main thread: the process's, which every environment starts with).
function forWorker({ execArgv, explicit, env, inherited }) {
  if (!explicit) return inherited;
  const values = defaults();
  const nodeOptions = env?.NODE_OPTIONS;
  if (typeof nodeOptions === 'string') parseInto(values, splitNodeOptions(nodeOptions));
  return parseInto(values, execArgv);
}

// The --cpu-prof / --heap-prof files a new worker's own options ask for (Node writes them per
// environment): { cpu, heap }, each [dir, name, interval] or undefined; null for none. Read as
// forWorker reads options; `inherited` is the parent's (null on the main thread, whose
// environments already have the process's own profiles from Node).
function fileProfiles({ execArgv, explicit, env, inherited }) {
  if (!explicit) return inherited;
  const nodeOptions = env?.NODE_OPTIONS;
  const args = [...(typeof nodeOptions === 'string' ? splitNodeOptions(nodeOptions) : []), ...execArgv];
  const found = {};
  for (const kind of ['cpu', 'heap']) {
    const prefix = `--${kind}-prof`;
    let on = false;
    const settings = ['', '', undefined];
    for (let i = 0; i < args.length; i++) {
      const arg = String(args[i]);
      const eq = arg.indexOf('=');
      const flag = eq > 0 ? arg.slice(0, eq) : arg;
      if (flag === prefix) on = true;
      else if (flag === `--no-${kind}-prof`) on = false;
      const setting = ['-dir', '-name', '-interval'].findIndex((suffix) => flag === prefix + suffix);
      if (setting < 0) continue;
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value !== undefined) settings[setting] = setting === 2 ? Number(value) : String(value);
    }
    if (on) found[kind] = settings;
  }
  return Object.keys(found).length > 0 ? found : null;
}

function replaceList(list, values) {
  if (Array.isArray(list)) list.splice(0, list.length, ...values);
}

// Makes this environment's options `values` (run in the boot's preload phase, with Node's
// internal require). Lists are Node's own arrays, changed in place; single values are answered
// by a wrapper of getOptionValue, which the modules loaded from here on read.
function apply(internalRequire, values) {
  if (values === null) return;
  const options = internalRequire('internal/options');
  const original = options.getOptionValue;
  for (const name of lists) replaceList(original(name), values[name]);
  const overrides = new Map(Object.entries(values).filter(([name]) => !lists.has(name)));
  options.getOptionValue = function getOptionValue(name) {
    return overrides.has(name) ? overrides.get(name) : original(name);
  };

  // Conditions were read when the module loaders were set up: read them again. (initializeESM's
  // argument keeps what the environment was set up with: forceDefaultLoader up to Node 22,
  // shouldSpawnLoaderHookWorker from 24.)
  try {
    const esmUtils = internalRequire('internal/modules/esm/utils');
    esmUtils.initializeESM(typeof esmUtils.shouldSpawnLoaderHookWorker === 'function' ?
      esmUtils.shouldSpawnLoaderHookWorker() : esmUtils.forceDefaultLoader?.() ?? false);
    internalRequire('internal/modules/helpers').initializeCjsConditions?.();
  } catch {}

  if (values['--experimental-vm-modules'] && !('SourceTextModule' in require('vm'))) {
    const { Module, SourceTextModule, SyntheticModule } = internalRequire('internal/vm/module');
    Object.assign(require('vm'), { Module, SourceTextModule, SyntheticModule });
  }
  // Node sets these only when the option is on.
  const flags = { noDeprecation: !values['--deprecation'], throwDeprecation: values['--throw-deprecation'],
    traceDeprecation: values['--trace-deprecation'], traceProcessWarnings: values['--trace-warnings'] };
  for (const [key, on] of Object.entries(flags)) {
    if (on) process[key] = true;
    else delete process[key];
  }
  const printer = process.listeners('warning').find((listener) => listener.name === 'onWarning');
  if (!values['--warnings'] && printer) process.removeListener('warning', printer);
  if (values['--warnings'] && !printer) {
    try {
      process.on('warning', internalRequire('internal/process/warning').onWarning);
    } catch {}
  }
  if (values['--enable-source-maps'] && typeof process.setSourceMapsEnabled === 'function') {
    process.setSourceMapsEnabled(true);
  }
  for (const [name, globals] of Object.entries(webGlobals)) {
    if (values[name] === false) for (const key of globals) delete globalThis[key];
  }
  registerLoaders(internalRequire, values['--experimental-loader']);
  if (values['--experimental-import-meta-resolve'] !== original('--experimental-import-meta-resolve')) {
    setImportMetaResolve(internalRequire, values['--experimental-import-meta-resolve']);
  }
}

// Node 26 reads --experimental-import-meta-resolve inside its ES module loader, which the
// environment made before this boot (the option wrapper cannot reach it): the worker's own
// `import.meta.resolve` is made here as Node's is (a second argument, the parent URL, is taken
// only with the option on), through the same hook Node sets it with. Earlier lines read the
// option when a module first uses import.meta, through the wrapper.
function setImportMetaResolve(internalRequire, allowParentURL) {
  const { internalBinding } = internalRequire('internal/bootstrap/realm');
  const { setImportMetaResolveInitializer } = internalBinding('module_wrap');
  if (typeof setImportMetaResolveInitializer !== 'function') return;
  const moduleLoader = internalRequire('internal/modules/esm/loader').getOrInitializeCascadedLoader();
  setImportMetaResolveInitializer((moduleURL) => function resolve(specifier, parentURL) {
    const from = allowParentURL ? (parentURL ?? moduleURL) : moduleURL;
    try {
      return moduleLoader.resolveSync(from, { specifier, __proto__: null }).url;
    } catch (error) {
      // As Node: what would be found if it existed (a missing module, a directory) is the answer.
      if ((error?.code === 'ERR_UNSUPPORTED_DIR_IMPORT' || error?.code === 'ERR_MODULE_NOT_FOUND') && error.url) {
        return error.url;
      }
      throw error;
    }
  });
}

// --loader / --experimental-loader: Node's hooks thread reads the list from the process's own
// options, so the worker's loaders are registered as Node's deprecation message says they can
// be, `register(loader, pathToFileURL("./"))` in order, before any preload (through Node's
// internal register: the public one warns on 26). Node's module loader, made here with the
// worker's list, gives the worker Node's ExperimentalWarning for the flag.
function registerLoaders(internalRequire, loaders) {
  if (loaders.length === 0) return;
  const { pathToFileURL } = require('url');
  const parentURL = pathToFileURL(`${process.cwd()}/`).href;
  const moduleLoader = internalRequire('internal/modules/esm/loader').getOrInitializeCascadedLoader();
  for (const loader of loaders) moduleLoader.register(loader, parentURL);
}

module.exports = { forWorker, fileProfiles, apply, splitNodeOptions, parseInto, defaults };
