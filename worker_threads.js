'use strict';
module.exports = require('./lib/load')('worker_threads');
