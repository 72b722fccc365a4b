'use strict';
// corral/child_process: Node's child_process, with fork() on processes Rust spawns and an IPC
// channel whose primary end Rust owns. The other functions are Node's own.
const builtin = require('../builtins').get('child_process');
const { fork } = require('./fork');

module.exports = { ...builtin, fork };
