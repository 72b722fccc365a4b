'use strict';
// Node's own built-in modules (the objects corral/register fills with corral's values).
function get(name) {
  return process.getBuiltinModule ? process.getBuiltinModule(name) : require(`node:${name}`);
}

// The register's lazy accessors (lib/register.js) carry the built-in's own descriptor here.
const kLazy = Symbol.for('corral.register.lazy');
// ... and the function that makes the built-in corral's (both also on its call-through stand-ins).
const kInstall = Symbol.for('corral.register.install');

// The built-in's own values, as Node made them, without setting off the register's lazy
// accessors (corral's modules read them while they load).
function pristine(name) {
  const builtin = get(name);
  const values = {};
  for (const key of Object.keys(builtin)) {
    const descriptor = Object.getOwnPropertyDescriptor(builtin, key);
    const saved = (descriptor.get ?? descriptor.value)?.[kLazy];
    if (saved === null) continue;  // a key corral added
    const own = saved ?? descriptor;
    values[key] = own.get ? own.get.call(builtin) : own.value;
  }
  return values;
}

// Called at the end of a corral module loaded while the register's accessors for its built-in
// are still in place (the program required corral's module directly): the built-in now gets
// corral's values, as the accessors would have done.
function loaded(name) {
  // (Not loaded yet: it has no accessors, and corral need not load it. A corral worker's
  // worker_threads is never Node's: lib/worker_threads/line.js presetBuiltin.)
  if (!process.moduleLoadList.includes(`NativeModule ${name}`)) return;
  const builtin = get(name);
  for (const key of Object.keys(builtin)) {
    const descriptor = Object.getOwnPropertyDescriptor(builtin, key);
    const install = (descriptor.get ?? descriptor.value)?.[kInstall];
    if (typeof install === 'function') {
      install();
      return;
    }
  }
}

module.exports = { get, pristine, loaded, kLazy };
