'use strict';
// Node's own built-in modules, even when corral/register has replaced them for the program.
const Module = require('module');

function get(name) {
  const load = Module._load.corralOriginal || Module._load;
  return load.call(Module, `node:${name}`, null, false);
}

module.exports = { get };
