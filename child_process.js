'use strict';
module.exports = require('./lib/load')('child_process');
