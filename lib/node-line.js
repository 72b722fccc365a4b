'use strict';
// The Node release line corral runs on. Behaviours that differ between lines (error wording,
// defaults, exports) are chosen by it, so each line gets what its own built-ins do.
const major = Number(process.versions.node.split('.')[0]);

module.exports = { major };
