'use strict';
module.exports = require('./lib/load')('pool');
