'use strict';
process.on('message', (m) => process.send(m));
