'use strict';
// Node's own built-in modules (the objects corral/register fills with corral's values).
function get(name) {
  return process.getBuiltinModule ? process.getBuiltinModule(name) : require(`node:${name}`);
}

module.exports = { get };
