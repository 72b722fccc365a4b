'use strict';
// BroadcastChannel: an EventTarget, as in Node, over a native port fed by the Rust group of
// its name (every thread of the process).
const { inspect } = require('util');
const { native } = require('../binding');
const { makeError, invalidArgType } = require('../errors');
const { handlerValue, checkEventTarget } = require('./event-handler');

const kPort = Symbol('corral.broadcast.port');
const kName = Symbol('corral.broadcast.name');
const kHandlers = Symbol('corral.broadcast.handlers');

const isChannel = (value) => value !== null && typeof value === 'object' && kName in value;

function checkThis(value) {
  if (!isChannel(value)) {
    throw makeError(TypeError, 'ERR_INVALID_THIS', 'Value of "this" must be of type BroadcastChannel');
  }
}

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

  get name() {
    checkThis(this);
    return this[kName];
  }

  close() {
    checkThis(this);
    const port = this[kPort];
    if (port === undefined) return;
    this[kPort] = undefined;
    native.broadcast.leave(port, this[kName]);
    port.removeAllListeners();
    port.close();
  }

  postMessage(message) {
    checkThis(this);
    if (arguments.length === 0) {
      throw makeError(TypeError, 'ERR_MISSING_ARGS', 'The "message" argument must be specified');
    }
    if (this[kPort] === undefined) throw new DOMException('BroadcastChannel is closed.', 'InvalidStateError');
    native.broadcast.post(this[kPort], this[kName], message);
  }

  ref() {
    checkThis(this);
    this[kPort]?.ref();
    return this;
  }

  unref() {
    checkThis(this);
    this[kPort]?.unref();
    return this;
  }

  get onmessage() { return getHandler(this, 'message'); }
  set onmessage(fn) { setHandler(this, 'message', fn); }
  get onmessageerror() { return getHandler(this, 'messageerror'); }
  set onmessageerror(fn) { setHandler(this, 'messageerror', fn); }

  [inspect.custom](depth, options) {
    checkThis(this);
    if (depth < 0) return 'BroadcastChannel';
    const opts = { ...options, depth: options.depth == null ? null : options.depth - 1 };
    return `BroadcastChannel ${inspect({ name: this[kName], active: this[kPort] !== undefined }, opts)}`;
  }
}

for (const key of ['name', 'close', 'postMessage', 'onmessage', 'onmessageerror']) {
  Object.defineProperty(BroadcastChannel.prototype, key, { enumerable: true });
}

// `on<type> = value`, as Node's event handler attributes: one listener, registered at the first
// assignment, calls what the attribute holds when it is a function (so the handler keeps its
// place among the listeners); the getter gives back the value as set.
function setHandler(channel, type, value) {
  checkEventTarget(channel, () => invalidArgType('this', 'EventTarget', channel));
  const handlers = channel[kHandlers] ?? {};
  if (handlers[`${type}Wrapper`] === undefined) {
    handlers[`${type}Wrapper`] = function eventHandler(event) {
      const fn = handlers[type];
      if (typeof fn === 'function') fn.call(channel, event);
    };
    channel.addEventListener(type, handlers[`${type}Wrapper`]);
  }
  handlers[type] = handlerValue(value);
}

function getHandler(channel, type) {
  checkEventTarget(channel, () => invalidArgType('this', 'EventTarget', channel));
  return channel[kHandlers]?.[type] ?? null;
}

// The port a (still open) BroadcastChannel receives on, for receiveMessageOnPort.
const portOf = (value) => (isChannel(value) ? value[kPort] : undefined);

module.exports = { BroadcastChannel, portOf };
