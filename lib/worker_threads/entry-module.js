'use strict';
// What a worker's entry needs Node's module loader for (import(): this file compiles Node's
// way, see code-cache.js, so entry.js can come from the code cache): an ES module entry, and
// the import() of eval'd code where the line's vm has no main-context loader constant.

// An ES module entry whose top-level await never settles ends the worker with 13 (unless it set
// process.exitCode), as Node's own: a listener on 'exit' while the entry is pending, as Node has.
// Node 22+ imports it as the entry point (import.meta.main true), through the loader's own
// entry path (which also ends an unsettled top-level await with 13).
function runModule(url, internalRequire, major) {
  if (major >= 22 && internalRequire !== null) {
    const { runEntryPointWithESMLoader } = internalRequire('internal/modules/run_main');
    const options = { __proto__: null };
    runEntryPointWithESMLoader((loader) => (major >= 24 ?
      loader.import(url, undefined, options, undefined, true) : loader.import(url, undefined, options, true)))
      .then(undefined, (err) => process.nextTick(() => { throw err; }));
    return;
  }
  const handleProcessExit = () => { process.exitCode ??= 13; };
  process.on('exit', handleProcessExit);
  import(url).then(() => process.off('exit', handleProcessExit), (err) => {
    process.off('exit', handleProcessExit);
    process.nextTick(() => { throw err; });
  });
}

// Eval'd code that is an ES module, as Node's workers run it (its evalModuleEntryPoint): named
// file:///<cwd>/[evalN], so relative and bare imports resolve from the working directory.
function runEvalModule(internalRequire, source) {
  const { evalModuleEntryPoint } = internalRequire('internal/process/execution');
  evalModuleEntryPoint(source, false).then(undefined, (err) => process.nextTick(() => { throw err; }));
}

const importDynamically = (specifier) => import(specifier);

module.exports = { runModule, runEvalModule, importDynamically };
