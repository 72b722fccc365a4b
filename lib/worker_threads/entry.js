'use strict';
// The worker's own script: a file, an ES module or eval'd code, run as Node's workers run it.
// (Kept apart from boot.js, which runs before the program's preloads. Dynamic imports are made in
// entry-module.js: a file that makes them compiles Node's way, without the code cache.)
const path = require('path');
const { major } = require('../node-line');

// Compiles eval'd worker code so that its dynamic imports resolve like the main context's. Reading
// that loader constant makes Node print an ExperimentalWarning that its own eval workers never
// print: the default warning printer is wrapped to drop that one warning.
let filteredWarningListener = null;

function compileEval(vm, source, filename) {
  for (const listener of process.listeners('warning')) {
    if (listener.name !== 'onWarning' || listener === filteredWarningListener) continue;
    process.removeListener('warning', listener);
    filteredWarningListener = function onWarning(warning) {
      if (/USE_MAIN_CONTEXT_DEFAULT_LOADER/.test(warning?.message ?? '')) return;
      listener.call(this, warning);
    };
    process.on('warning', filteredWarningListener);
  }
  const importModuleDynamically = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER ??
    require('./entry-module').importDynamically;
  return new vm.Script(source, { filename, importModuleDynamically });
}

// Eval'd code is an ES module, as Node's module syntax detection has it, when its CommonJS
// compile fails on import/export or import.meta, or on a top-level await in code that parses
// as a module (an await in a plain function stays the CommonJS error).
const kModuleSyntax = /Cannot use import statement outside a module|Unexpected token 'export'|Cannot use 'import\.meta' outside a module/;
const kTopLevelAwait = 'await is only valid in async functions and the top level bodies of modules';

function isModuleSource(vm, error, source) {
  if (!(error instanceof SyntaxError)) return false;
  if (kModuleSyntax.test(error.message)) return true;
  if (error.message !== kTopLevelAwait) return false;
  try {
    new vm.Script(`(async function () {\n${source}\n})`);
    return true;
  } catch (inAsync) {
    return inAsync instanceof SyntaxError && kModuleSyntax.test(inAsync.message);
  }
}

const runModule = (url, internalRequire) => require('./entry-module').runModule(url, internalRequire, major);
const runEvalModule = (internalRequire, source) => require('./entry-module').runEvalModule(internalRequire, source);

// Node gives the preload modules process.argv without the entry; it is put in when the entry
// runs.
function runEntry(process, entry, internalRequire) {
  const { Module } = require('./code-cache');
  if (entry.kind === 'file') {
    process.argv.splice(1, 0, entry.source);
    Module.runMain(entry.source);
    return;
  }
  // (Node's module entries, a data: URL or --input-type=module code, see no '[worker eval]'.)
  if (entry.kind === 'module') {
    runModule(entry.source, internalRequire);
    return;
  }
  if (entry.kind === 'eval-module') {
    runEvalModule(internalRequire, entry.source);
    return;
  }
  process.argv.splice(1, 0, '[worker eval]');
  // Like `node -e`: module, exports, require, __filename and __dirname as globals, and the
  // source as process._eval (as Node's eval workers have it, unlike --input-type=module ones).
  const cwd = process.cwd();
  const name = '[worker eval]';
  Object.defineProperty(process, '_eval', { configurable: true, enumerable: true, value: entry.source });
  const mod = new Module(name, null);  // (as Node's eval: id '[worker eval]', path '.')
  mod.filename = path.join(cwd, name);
  mod.paths = Module._nodeModulePaths(cwd);
  const cjsGlobals = {
    module: mod, exports: mod.exports, require: Module.createRequire(mod.filename),
    __filename: name, __dirname: '.',
  };
  Object.assign(globalThis, cjsGlobals);
  const vm = require('vm');
  let script;
  try {
    script = compileEval(vm, entry.source, name);
  } catch (error) {
    // As Node does (module syntax detection): eval'd code with import/export is an ES module,
    // which runs without those globals.
    if (!isModuleSource(vm, error, entry.source)) throw error;
    for (const key of Object.keys(cjsGlobals)) delete globalThis[key];
    // Node 22+ runs it as its eval does (internal/process/execution's evalScript): a module
    // that is not the entry point (import.meta.main false), unlike --input-type=module code.
    if (major >= 22) internalRequire('internal/process/execution').evalScript(name, entry.source);
    else runEvalModule(internalRequire, entry.source);
    return;
  }
  script.runInThisContext({ displayErrors: true });
}

module.exports = { compileEval, runEntry };
