'use strict';
// A healthy child for the fuzz harness: answers every message.
process.on('message', (m) => process.send(m));
