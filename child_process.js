'use strict';
module.exports = require('./lib/child_process');
