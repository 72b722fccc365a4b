'use strict';
// corral/supervisor: the `corral` command's supervision, for programs that want it in code.
module.exports = require('./lib/load')('supervisor');
