'use strict';
module.exports = require('./lib/pool');
