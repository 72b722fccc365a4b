'use strict';
// BroadcastChannel: an EventTarget, as in Node, over a native port fed by the Rust group of
// its name (every thread of the process).
const { native } = require('../binding');
const { makeError } = require('../errors');

const kPort = Symbol('corral.broadcast.port');
const kName = Symbol('corral.broadcast.name');
const kHandlers = Symbol('corral.broadcast.handlers');

class BroadcastChannel extends EventTarget {
  constructor(name) {
    if (arguments.length === 0) {
      throw makeError(TypeError, 'ERR_MISSING_ARGS', 'The "name" argument must be specified');
    }
    super();
    this[kName] = `${name}`;
    this[kHandlers] = {};
    const port = native.broadcast.join(this[kName]);
    port.on('message', (data) => this.dispatchEvent(new MessageEvent('message', { data })));
    port.on('messageerror', (data) => this.dispatchEvent(new MessageEvent('messageerror', { data })));
    this[kPort] = port;
  }

  get name() { return this[kName]; }

  postMessage(message) {
    if (arguments.length === 0) {
      throw makeError(TypeError, 'ERR_MISSING_ARGS', 'The "message" argument must be specified');
    }
    if (this[kPort] === undefined) throw new DOMException('BroadcastChannel is closed.', 'InvalidStateError');
    native.broadcast.post(this[kPort], this[kName], message);
  }

  close() {
    const port = this[kPort];
    if (port === undefined) return;
    this[kPort] = undefined;
    native.broadcast.leave(port, this[kName]);
    port.removeAllListeners();
    native.close(port);
  }

  ref() { this[kPort]?.ref(); return this; }
  unref() { this[kPort]?.unref(); return this; }

  get onmessage() { return this[kHandlers].message ?? null; }
  set onmessage(fn) { setHandler(this, 'message', fn); }
  get onmessageerror() { return this[kHandlers].messageerror ?? null; }
  set onmessageerror(fn) { setHandler(this, 'messageerror', fn); }
}

function setHandler(channel, type, fn) {
  const handlers = channel[kHandlers];
  if (handlers[type]) channel.removeEventListener(type, handlers[`${type}Wrapper`]);
  handlers[type] = typeof fn === 'function' ? fn : null;
  if (handlers[type]) {
    handlers[`${type}Wrapper`] = (event) => fn.call(channel, event);
    channel.addEventListener(type, handlers[`${type}Wrapper`]);
  }
}

module.exports = { BroadcastChannel };
