'use strict';
module.exports = require('./lib/load')('shared');
