'use strict';
// One dispatch function per environment receives every native event (channel data, handle
// acknowledgements, channel close, drain, process exit) and routes it by id.
const binding = require('../binding');

const EV = { MESSAGE: 1, ACK: 2, CLOSE: 3, DRAIN: 4, EXIT: 5, CONNECTIONS: 6, BAD_FRAME: 7 };
const targets = new Map();
let initialised = false;

function dispatch(kind, id, a, b, c) {
  const target = targets.get(id);
  if (target !== undefined) {
    target.onNative(kind, a, b, c);
  } else if (kind === EV.MESSAGE && Array.isArray(b)) {
    // Descriptors for a channel already gone: nobody will take them.
    for (const fd of b) {
      try {
        require('fs').closeSync(fd);
      } catch {}
    }
  }
}

function init() {
  if (!initialised) {
    binding.ipcInit(dispatch);
    initialised = true;
  }
}

function register(id, target) {
  targets.set(id, target);
}

function unregister(id) {
  targets.delete(id);
}

module.exports = { EV, init, register, unregister };
