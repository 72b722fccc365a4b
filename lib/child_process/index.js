'use strict';
// corral/child_process: Node's child_process, with fork() on processes Rust spawns and an IPC
// channel whose primary end Rust owns. The other functions are Node's own.
const builtins = require('../builtins');
const { fork } = require('./fork');

module.exports = { ...builtins.pristine('child_process'), fork };
builtins.loaded('child_process');
