'use strict';
// The worker's own script: a file, an ES module or eval'd code, run as Node's workers run it.
// (Kept apart from boot.js: its import() calls need Node's module loader, see code-cache.js.)
const path = require('path');

// Compiles eval'd worker code so that its import() resolves like the main context's. Reading
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
    ((specifier) => import(specifier));
  return new vm.Script(source, { filename, importModuleDynamically });
}

const kModuleSyntax = /Cannot use import statement outside a module|Unexpected token 'export'|Cannot use 'import\.meta' outside a module/;

// An ES module entry whose top-level await never settles ends the worker with 13 (unless it set
// process.exitCode), as Node's own: a listener on 'exit' while the entry is pending, as Node has.
function runModule(url) {
  const handleProcessExit = () => { process.exitCode ??= 13; };
  process.on('exit', handleProcessExit);
  import(url).then(() => process.off('exit', handleProcessExit), (err) => {
    process.off('exit', handleProcessExit);
    process.nextTick(() => { throw err; });
  });
}

// Node gives the preload modules process.argv without the entry; it is put in when the entry
// runs.
function runEntry(process, entry) {
  const { Module } = require('./code-cache');
  if (entry.kind === 'file') {
    process.argv.splice(1, 0, entry.source);
    Module.runMain(entry.source);
    return;
  }
  process.argv.splice(1, 0, '[worker eval]');
  if (entry.kind === 'module') {
    runModule(entry.source);
    return;
  }
  // Like `node -e`: module, exports, require, __filename and __dirname as globals.
  const cwd = process.cwd();
  const name = '[worker eval]';
  const mod = new Module(path.join(cwd, name), null);
  mod.filename = path.join(cwd, name);
  mod.paths = Module._nodeModulePaths(cwd);
  Object.assign(globalThis, {
    module: mod, exports: mod.exports, require: Module.createRequire(mod.filename),
    __filename: name, __dirname: '.',
  });
  const vm = require('vm');
  let script;
  try {
    script = compileEval(vm, entry.source, name);
  } catch (error) {
    // As Node does (module syntax detection): eval'd code with import/export is an ES module.
    if (!(error instanceof SyntaxError) || !kModuleSyntax.test(error.message)) throw error;
    runModule(`data:text/javascript,${encodeURIComponent(entry.source)}`);
    return;
  }
  script.runInThisContext({ displayErrors: true });
}

module.exports = { compileEval, runEntry };
