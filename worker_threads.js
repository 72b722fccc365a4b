'use strict';
module.exports = require('./lib/worker_threads');
